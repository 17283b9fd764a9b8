/**
 * The gateway's own listener, out of a sandbox's reach (walk L): the egress proxy's connections leave
 * from this machine, so one to the gateway arrives from loopback, and a loopback caller is the
 * platform admin until identity is configured. The decision with hostile spellings of the gateway's
 * address, the config's refusal of an allowlist entry naming it (file and line; `config validate` and
 * `check` alike), and a real gateway whose sandboxed server, allowed its gateway in every spelling,
 * fetches the admin API and the console and is refused each time, with an audit record of each.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, stdioServer } from './support/gateway.ts';
import { freePort } from './support/processes.ts';
import { postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { ConfigError, parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { findExecutable } from '../src/util/paths.ts';
import { sandboxReadiness } from '../src/sandbox/readiness.ts';
import { vet } from '../src/sandbox/egress.ts';
import { parseAllow } from '../src/util/allow-entry.ts';
import { canonicalIp, namesGateway, reachesGateway } from '../src/util/own-listener.ts';

const EGRESS = join(ROOT, 'test/fixtures/upstreams/egress-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-egress-self-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('canonicalIp: one spelling for every way of writing an address; names are not addresses', () => {
  for (const s of ['127.1', '0x7f000001', '2130706433', '017700000001', '::ffff:127.0.0.1', '[::ffff:7f00:1]'])
    assert.equal(canonicalIp(s), '127.0.0.1', s);
  assert.equal(canonicalIp('0:0:0:0:0:ffff:7f00:1'), '127.0.0.1');
  assert.equal(canonicalIp('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalIp('FE80::1%eth0'), 'fe80::1');
  assert.equal(canonicalIp('0'), '0.0.0.0');
  for (const s of ['localhost', 'a@127.0.0.1', 'deadbeef', 'api.example.com', '127.0.0.1/x', '1.2.3.4.5'])
    assert.equal(canonicalIp(s), undefined, s);
});

test('reachesGateway: the listener in any spelling; a wildcard listener takes every address of the machine', () => {
  const P = 8765;
  const lo = [{ address: '127.0.0.1', port: P }];
  for (const a of [
    '127.0.0.1',
    '127.0.0.2',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '0.0.0.0',
    '::',
    '127.1',
    '0x7f000001',
  ])
    assert.ok(reachesGateway(a, P, lo, []), `${a} reaches a listener on 127.0.0.1`);
  assert.ok(!reachesGateway('127.0.0.1', P + 1, lo, []), 'another port is not the gateway');
  assert.ok(
    !reachesGateway('10.0.0.5', P, lo, ['10.0.0.5']),
    'an interface address does not reach a loopback listener',
  );
  assert.ok(!reachesGateway('93.184.215.14', P, lo, []));
  for (const any of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0', 'gw.example.com']) {
    const l = [{ address: any, port: P }];
    for (const a of [
      '127.0.0.1',
      '127.9.9.9',
      '::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
      '10.0.0.5',
      '::ffff:10.0.0.5',
      'fe80::1',
    ])
      assert.ok(reachesGateway(a, P, l, ['10.0.0.5', 'fe80::1%eth0']), `${a} reaches a listener on ${any}`);
    assert.ok(!reachesGateway('10.0.0.6', P, l, ['10.0.0.5']), `another host is not the gateway on ${any}`);
  }
  const one = [{ address: '10.0.0.5', port: P }];
  assert.ok(reachesGateway('::ffff:10.0.0.5', P, one, []));
  assert.ok(!reachesGateway('127.0.0.1', P, one, ['10.0.0.5']), 'loopback does not reach a listener on one interface');
  assert.ok(reachesGateway('::1', P, [{ address: 'localhost', port: P }], []));
  assert.ok(!reachesGateway('api.example.com', P, lo, []), 'a name is decided once resolved');
});

test('namesGateway: what the config shows of an allowlist entry', () => {
  const lo = { address: '127.0.0.1', port: 8765 };
  for (const h of ['127.0.0.1', '127.1', '::ffff:127.0.0.1', '::ffff:7f00:1', '0.0.0.0', 'localhost', 'x.localhost'])
    assert.ok(namesGateway(h, 8765, lo), h);
  assert.ok(!namesGateway('127.0.0.1', 8766, lo));
  assert.ok(!namesGateway('api.example.com', 8765, lo));
  const named = { address: 'gw.example.com', port: 443 };
  assert.ok(namesGateway('gw.example.com', 443, named));
  assert.ok(namesGateway('*.example.com', 443, named), 'a wildcard covering the listener name');
  assert.ok(!namesGateway('*.gw.example.com', 443, named));
  assert.ok(namesGateway('127.0.0.1', 443, named), 'a listener on a name may be on any address of the machine');
  assert.ok(!namesGateway('10.0.0.5', 443, named), "the machine's other addresses are the proxy's to refuse");
});

test('vet: the gateway is refused whatever the allowlist says, before any literal opt-in, and after resolution', async () => {
  const P = 8765;
  const own = { listening: [{ address: '127.0.0.1', port: P }], interfaces: [] };
  const spellings = ['127.0.0.1', '::ffff:127.0.0.1', '::ffff:7f00:1', '0.0.0.0', '127.1', '0x7f000001', 'localhost'];
  const list = spellings.map((h) => parseAllow(`${h.includes(':') ? `[${h}]` : h}:${P}`));
  for (const h of spellings) {
    const v = await vet(list, h, P, own);
    assert.equal('reason' in v && v.reason, 'gateway address', h);
  }
  // The same entries without the gateway listening there: a literal loopback address passes with
  // `allowLoopback` only.
  assert.deepEqual(await vet(list, '127.0.0.1', P, undefined, true), { address: '127.0.0.1' });
  const v0 = await vet(list, '127.0.0.1', P);
  assert.equal('reason' in v0 && v0.reason, 'loopback address');
  const wildcard = { listening: [{ address: '::', port: P }], interfaces: ['10.0.0.5'] };
  const v = await vet([parseAllow(`10.0.0.5:${P}`)], '10.0.0.5', P, wildcard);
  assert.equal('reason' in v && v.reason, 'gateway address', "the machine's own address, on a wildcard listener");
});

/** A config with one sandboxed server allowed `allow`, the gateway listening at `listen`. */
function configText(listen: string, allow: string[]): string {
  return (
    `version: 1\ngateway:\n  listen: ${listen}\n  stateDir: ${JSON.stringify(join(tmp, 'state'))}\nservers:\n` +
    // Loopback entries opted in: what is refused here is the gateway, whatever the opt-in.
    `${stdioServer('box', EGRESS)}    sandbox:\n      network:\n        allowLoopback: true\n        allow:\n` +
    allow.map((a) => `          - ${JSON.stringify(a)}\n`).join('')
  );
}

test("config: an allowlist entry naming the gateway's listener is refused at its line; other entries pass", () => {
  const text = configText('{ host: 127.0.0.1, port: 8765 }', [
    'api.example.com:443',
    '127.0.0.1:8765',
    '127.0.0.1:8766',
    '[::ffff:7f00:1]:8765',
    'localhost:8765',
    '0.0.0.0:8765',
  ]);
  const err = (() => {
    try {
      parseConfig(text, 'g.yaml');
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof ConfigError, 'the config is refused');
  const lines = text.split('\n');
  const at = (entry: string) => lines.findIndex((l) => l.includes(`"${entry}"`)) + 1;
  assert.deepEqual(
    err.issues.map((i) => [i.line, i.path]),
    ['127.0.0.1:8765', '[::ffff:7f00:1]:8765', 'localhost:8765', '0.0.0.0:8765'].map((e, k) => [
      at(e),
      `servers[0].sandbox.network.allow[${[1, 3, 4, 5][k]}]`,
    ]),
  );
  assert.match(err.issues[0].message, /names the gateway's own listener \(`gateway.listen`\)/);
  assert.ok(!err.message.includes('8765'), 'the entry is not echoed');
  // Listening on every address: loopback in any spelling is the gateway; another host is not.
  assert.throws(() => parseConfig(configText('{ host: "::", port: 8765 }', ['127.0.0.1:8765']), 'g.yaml'), ConfigError);
  assert.doesNotThrow(() => parseConfig(configText('{ host: "::", port: 8765 }', ['10.0.0.5:8765']), 'g.yaml'));
});

test('gatehouse config validate and check refuse such a config, saying where', async () => {
  const file = join(tmp, 'self.yaml');
  writeFileSync(file, configText('{ host: 127.0.0.1, port: 8765 }', ['127.0.0.1:8765']));
  const line = configText('{ host: 127.0.0.1, port: 8765 }', ['127.0.0.1:8765']).split('\n').length - 1;
  for (const args of [
    ['config', 'validate', file],
    ['check', '-c', file],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(
      r.stderr,
      new RegExp(
        `self\\.yaml:${line}:\\d+: servers\\[0\\]\\.sandbox\\.network\\.allow\\[0\\]: names the gateway's own listener`,
      ),
    );
  }
});

test('a sandboxed server allowed its own gateway in every spelling reaches neither the admin API nor the console: refused and recorded', async (tc) => {
  if (!findExecutable('bwrap')) {
    if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
    return tc.skip('bubblewrap (bwrap) is not installed');
  }
  // Something else on loopback, allowed literally: the proxy still serves it.
  const other: Server = createHttpServer((_, res) => res.end('other service'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const Q = (other.address() as { port: number }).port;
  const P = await freePort();
  const spelled = [
    `127.0.0.1:${P}`,
    `[::ffff:127.0.0.1]:${P}`,
    `[::ffff:7f00:1]:${P}`,
    `0.0.0.0:${P}`,
    `127.1:${P}`,
    `localhost:${P}`,
    // walk S: IPv6 forms that carry 127.0.0.1 (SIIT, NAT64, 6to4, Teredo, IPv4-compatible).
    `[::ffff:0:7f00:1]:${P}`,
    `[64:ff9b::7f00:1]:${P}`,
    `[64:ff9b::127.0.0.1]:${P}`,
    `[2002:7f00:1::]:${P}`,
    `[2001:0:4136:e378:8000:63bf:80ff:fffe]:${P}`,
    `[::7f00:1]:${P}`,
  ];
  const file = join(tmp, 'gatehouse.yaml');
  const text = configText(`{ host: 127.0.0.1, port: ${P} }`, [`127.0.0.1:${Q}`]).replace(
    '    sandbox:',
    '    tools: { fetch: { class: READ }, tunnel: { class: READ } }\n    sandbox:',
  );
  writeFileSync(file, text);
  const config = parseConfig(text, file);
  // The config's checks refuse these entries; the proxy must refuse them whatever the allowlist says
  // (a file checked before this rule, a check that misses a spelling), so they are put in after the load.
  const box = config.servers[0];
  assert.ok(box.transport === 'stdio' && box.sandbox);
  box.sandbox.network = { allow: [`127.0.0.1:${Q}`, ...spelled], allowLoopback: true };
  // A worktree whose node_modules is a link elsewhere: the server's packages are shown where they are.
  const modules = realpathSync(join(ROOT, 'node_modules'));
  if (modules !== join(ROOT, 'node_modules')) box.sandbox.paths = { read: [modules] };
  const gw = await Gateway.start(config, { log: process.env.GATEHOUSE_TEST_LOG ? undefined : silentLogger() });
  try {
    await gw.waitForUpstreams(20_000);
    const call = async (name: string, args: Record<string, string>) => {
      const r = await postModernCall(gw.url, `box__${name}`, args);
      const body = (await r.json()) as { result?: { content: Array<{ text: string }> } };
      assert.ok(body.result, JSON.stringify(body));
      return body.result.content[0].text;
    };
    // Without identity a loopback caller is the admin: this is what the sandbox must not get.
    assert.equal((await fetch(`${gw.url}/admin/v1/check`)).status, 200);
    assert.equal(await call('fetch', { url: `http://127.0.0.1:${Q}/` }), '200 other service');
    // fetch tunnels through the proxy (CONNECT), and says only that the proxy refused; the tunnel below says why.
    const refused = 'error: Proxy response (403) !== 200 when HTTP Tunneling';
    assert.equal(await call('fetch', { url: `http://127.0.0.1:${P}/admin/v1/check` }), refused);
    assert.equal(await call('fetch', { url: `http://127.0.0.1:${P}/console/keys` }), refused);
    assert.equal(await call('fetch', { url: `http://[::ffff:127.0.0.1]:${P}/admin/v1/check` }), refused);
    assert.equal(await call('fetch', { url: `http://0.0.0.0:${P}/admin/v1/check` }), refused);
    assert.equal(await call('fetch', { url: `http://localhost:${P}/admin/v1/check` }), refused);
    for (const target of spelled)
      assert.equal(
        await call('tunnel', { target, path: '/admin/v1/check' }),
        'proxy: HTTP/1.1 403 Forbidden egress refused: gateway address',
        target,
      );
    const attempts = 5 + spelled.length;
    await eventually(async () => {
      await gw.audit.log.drain();
      const records = (await gw.store.audit.read({ kind: 'egress.refused', limit: 100 })).map((r) => r.event);
      assert.equal(records.length, attempts);
      for (const r of records) {
        assert.equal(r.server, 'box');
        assert.equal(r.detail?.reason, 'gateway address');
      }
      return true;
    });
  } finally {
    await gw.stop();
    other.close();
  }
});

test("readiness 6.4: a sandbox with the host's network is said to reach the gateway's own listener", () => {
  const config = parseConfig(
    `version: 1\nservers:\n${stdioServer('wide', EGRESS)}    sandbox: { network: host }\n`,
    join(tmp, 'wide.yaml'),
  );
  const stdio = config.servers.filter((s) => s.transport === 'stdio');
  const r = sandboxReadiness(stdio, config.gateway.stateDir, { bwrap: true, stateDirExposed: [] });
  assert.equal(r.status, 'warn');
  assert.match(r.why, /the gateway's own listener included/);
  assert.match(r.fix, /configure identity/);
});
