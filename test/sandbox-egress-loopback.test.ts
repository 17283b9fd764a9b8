/**
 * A literal loopback entry in a sandbox's egress allowlist (`127.0.0.1:PORT`) reached whatever
 * listens on that port on the gateway's machine: another local gateway (its admin API is open to
 * loopback callers until identity is configured), a database that trusts local callers, an admin
 * port. Now such an entry is refused at its line unless the sandbox says `allowLoopback: true`, the
 * proxy refuses a loopback, unspecified or own-interface address without it whatever the allowlist
 * says, and the gateway's own database and Redis are refused even with it. Real gateway, real
 * bubblewrap, a second HTTP service on loopback standing for another gateway.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, stdioServer } from './support/gateway.ts';
import { postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { ConfigError, parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { findExecutable } from '../src/util/paths.ts';
import { vet } from '../src/sandbox/egress.ts';
import { parseAllow } from '../src/util/allow-entry.ts';

const EGRESS = join(ROOT, 'test/fixtures/upstreams/egress-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-egress-loopback-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A config with one sandboxed server allowed `allow`; `extra` goes beside `allow`, `head` at the top. */
function configText(allow: string[], extra = '', head = ''): string {
  return (
    `version: 1\n${head}gateway:\n  listen: { host: 127.0.0.1, port: 8765 }\n  stateDir: ${JSON.stringify(join(tmp, 'state'))}\nservers:\n` +
    `${stdioServer('box', EGRESS)}    sandbox:\n      network:\n${extra}        allow:\n` +
    allow.map((a) => `          - ${JSON.stringify(a)}\n`).join('')
  );
}
function issues(text: string): Array<[number | undefined, string, string]> {
  try {
    parseConfig(text, 'g.yaml');
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => [i.line, i.path, i.message]);
  }
}
const lineOf = (text: string, entry: string) => text.split('\n').findIndex((l) => l.includes(`"${entry}"`)) + 1;

test('config: a loopback entry is refused at its line without allowLoopback; the gateway’s own database and Redis always', () => {
  const loopback = ['127.0.0.1:6380', '[::1]:9000', '0.0.0.0:9001', '127.1:9002', '[::ffff:127.0.0.1]:9003'];
  const text = configText(['api.example.com:443', '10.0.0.5:5432', ...loopback]);
  const found = issues(text);
  assert.deepEqual(
    found.map(([line, path]) => [line, path]),
    loopback.map((e, k) => [lineOf(text, e), `servers[0].sandbox.network.allow[${k + 2}]`]),
  );
  assert.match(found[0][2], /names this machine \(a loopback address\): it reaches whatever listens on that port here/);
  assert.match(found[0][2], /set `allowLoopback: true` beside `allow`/);
  assert.ok(!found[0][2].includes('6380'), 'the entry is not echoed');
  // Opted in: they pass.
  // (The IPv4-mapped spelling stays refused: the proxy takes only the IPv4 address itself.)
  assert.deepEqual(issues(configText(loopback.slice(0, 4), '        allowLoopback: true\n')), []);
  // The gateway's own database and Redis: refused even opted in, in any spelling of loopback.
  const head =
    'storage: { driver: postgres, postgresUrl: "postgres://gh@localhost:5433/gh" }\n' +
    'limits: { redis: { url: "redis://127.0.0.1:6390" } }\n';
  const own = configText(
    ['127.0.0.1:5433', '[::1]:5433', '127.0.0.1:6390', '127.0.0.1:6391'],
    '        allowLoopback: true\n',
    head,
  );
  const refused = issues(own);
  assert.deepEqual(
    refused.map(([, path]) => path),
    [0, 1, 2].map((j) => `servers[0].sandbox.network.allow[${j}]`),
  );
  assert.match(refused[0][2], /names the gateway's own database, which a local caller may reach without a password/);
  assert.match(refused[2][2], /names the gateway's own Redis/);
});

test('gatehouse config validate and check point at the file and line of a loopback entry', async () => {
  const file = join(tmp, 'loop.yaml');
  const text = configText(['api.example.com:443', '127.0.0.1:6380']);
  writeFileSync(file, text);
  for (const args of [
    ['config', 'validate', file],
    ['check', '-c', file],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(
      r.stderr,
      new RegExp(
        `loop\\.yaml:${lineOf(text, '127.0.0.1:6380')}:\\d+: servers\\[0\\]\\.sandbox\\.network\\.allow\\[1\\]: names this machine`,
      ),
    );
  }
});

test('vet: a literal loopback, unspecified or own address needs allowLoopback; the gateway’s services never pass', async () => {
  const list = ['127.0.0.1:9000', '[::1]:9000', '0.0.0.0:9000', '10.0.0.5:9000', '10.0.0.6:9000'].map(parseAllow);
  const own = { listening: [], interfaces: ['10.0.0.5'] };
  const reason = async (host: string, allowLoopback = false) => {
    const v = await vet(list, host, 9000, own, allowLoopback);
    return 'reason' in v ? v.reason : `to ${v.address}`;
  };
  assert.equal(await reason('127.0.0.1'), 'loopback address');
  assert.equal(await reason('::1'), 'loopback address');
  assert.equal(await reason('0.0.0.0'), 'unspecified address');
  assert.equal(await reason('10.0.0.5'), 'address of this machine');
  assert.equal(await reason('10.0.0.6'), 'to 10.0.0.6', 'another host, named literally: as before');
  for (const h of ['127.0.0.1', '::1', '0.0.0.0', '10.0.0.5']) assert.equal(await reason(h, true), `to ${h}`, h);
  // The gateway's database among what it listens on: refused, opted in or not.
  const db = { listening: [{ address: '127.0.0.1', port: 9000 }], interfaces: [] };
  const v = await vet(list, '127.0.0.1', 9000, db, true);
  assert.equal('reason' in v && v.reason, 'gateway address');
});

test('a sandboxed server allowed 127.0.0.1:PORT literally reaches another local gateway only with allowLoopback', async (tc) => {
  if (!findExecutable('bwrap')) {
    if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
    return tc.skip('bubblewrap (bwrap) is not installed');
  }
  let arrived = 0;
  const other = createHttpServer((_, res) => {
    arrived++;
    res.end('another gateway');
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  tc.after(() => other.close());
  const Q = (other.address() as { port: number }).port;
  const file = join(tmp, 'gatehouse.yaml');
  const text = configText(['api.example.com:443'])
    .replace('port: 8765', 'port: 0')
    .replace('    sandbox:', '    tools: { fetch: { class: READ }, tunnel: { class: READ } }\n    sandbox:');
  writeFileSync(file, text);
  const config = parseConfig(text, file);
  const box = config.servers[0];
  assert.ok(box.transport === 'stdio' && box.sandbox);
  // Put in after the load (the config's checks refuse it): the proxy refuses it whatever the allowlist says.
  box.sandbox.network = { allow: [`127.0.0.1:${Q}`] };
  const modules = realpathSync(join(ROOT, 'node_modules'));
  if (modules !== join(ROOT, 'node_modules')) box.sandbox.paths = { read: [modules] };
  for (const allowLoopback of [false, true]) {
    box.sandbox.network = { allow: [`127.0.0.1:${Q}`], allowLoopback };
    const gw = await Gateway.start(config, { log: process.env.GATEHOUSE_TEST_LOG ? undefined : silentLogger() });
    try {
      await gw.waitForUpstreams(20_000);
      const r = await postModernCall(gw.url, 'box__tunnel', { target: `127.0.0.1:${Q}`, path: '/' });
      const answer = ((await r.json()) as { result: { content: Array<{ text: string }> } }).result.content[0].text;
      if (allowLoopback) {
        assert.equal(answer, 'through: HTTP/1.1 200 OK');
        assert.equal(arrived, 1);
        continue;
      }
      assert.equal(answer, 'proxy: HTTP/1.1 403 Forbidden egress refused: loopback address');
      assert.equal(arrived, 0, 'nothing reached the other service');
      await eventually(async () => {
        await gw.audit.log.drain();
        const records = (await gw.store.audit.read({ kind: 'egress.refused', limit: 10 })).map((x) => x.event);
        assert.deepEqual(
          records.map((x) => [x.server, x.detail?.reason]),
          [['box', 'loopback address']],
        );
        return true;
      });
    } finally {
      await gw.stop();
    }
  }
});
