/**
 * What an upstream may say toward callers is one table (src/protocol/upstream-methods.ts), tried as
 * a hostile server would: two tenants' processes (test/fixtures/upstreams/tenant-server.ts, `stray`)
 * say a notification and ask a request that no row names, carrying their secret even in the method's
 * name, during a call and after it. No client session of either tenant hears or is asked anything of
 * it; each process is answered -32601; the gateway counts every one and logs each method once, with
 * no secret in its log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { eventually } from './support/eventually.ts';
import { postModernCall, replyOf } from './support/rpc.ts';
import { keys, noCanary, reached, sdk, startMediationGateway, t } from './support/mediation.ts';

const logged: string[] = [];
startMediationGateway({ log: pino({ level: 'info' }, { write: (line: string) => void logged.push(line) }) });

const TENANTS = ['acme', 'globex'] as const;
type Tenant = (typeof TENANTS)[number];

/** The errors each tenant's process was answered to the requests it asked. */
const answered = (tenant: Tenant) =>
  reached()
    .filter((r) => r.tenant === tenant && 'error' in r.msg)
    .map((r) => (r.msg as unknown as { error: { code: number; message: string } }).error);

const refusedCount = async (kind: string): Promise<number> => {
  const body = await (await fetch(new URL('/metrics', t.url))).text();
  const m = body.match(
    new RegExp(`^gatehouse_upstream_methods_refused_total\\{server="mt",kind="${kind}"\\} (\\d+)$`, 'm'),
  );
  return m ? Number(m[1]) : 0;
};

test('a method no row names reaches no session of either tenant, during a call or after it; the server is answered -32601', async () => {
  const heard: Record<string, unknown[]> = {};
  const asked: Record<string, unknown[]> = {};
  const clients: Client[] = [];
  // Per tenant: a caller that could be asked anything and hears every level, and a session that only listens.
  for (const tenant of TENANTS) {
    for (const role of ['caller', 'listener']) {
      const who = `${tenant} ${role}`;
      heard[who] = [];
      asked[who] = [];
      const c = await sdk(tenant, { sampling: {}, elicitation: {}, roots: { listChanged: true } });
      c.fallbackNotificationHandler = async (n) => void heard[who].push(n);
      c.fallbackRequestHandler = async (r) => {
        asked[who].push(r);
        return {};
      };
      await c.setLoggingLevel('debug');
      clients.push(c);
    }
  }
  const [acme, , globex] = clients;
  for (const [tenant, c] of [
    ['acme', acme],
    ['globex', globex],
  ] as const) {
    // During the call: the process reports what it was answered.
    const now = await c.callTool({ name: 'mt__stray', arguments: { when: 'now' } });
    const said = (now.content as Array<{ text: string }>)[0].text;
    assert.match(
      said,
      /^refused -32601: .*method not found: the gateway takes no `stray\/ask\/.*` request from a server/,
    );
    noCanary(now, `${tenant}'s call`);
    // After it: outside any call, the answer reaches the process's record.
    await c.callTool({ name: 'mt__stray', arguments: { when: 'later' } });
    await eventually(() => answered(tenant).length === 2, { timeoutMs: 10_000, intervalMs: 20 });
    for (const error of answered(tenant)) {
      assert.equal(error.code, -32601, `${tenant}: ${error.message}`);
      assert.match(error.message, /^method not found: the gateway takes no `stray\/ask\//);
    }
  }
  // A 2026-07-28 caller's call (held by the gateway while its upstream asks) is refused alike.
  const modern = await replyOf(
    await postModernCall(t.url, 'mt__stray', { when: 'now' }, { token: keys.globex, capabilities: { sampling: {} } }),
  );
  assert.match(JSON.stringify(modern.result), /refused -32601: .*method not found/);
  noCanary(modern, 'the modern call');
  await new Promise((r) => setTimeout(r, 500)); // anything said after the last answer would have come by now
  for (const [who, notes] of Object.entries(heard)) {
    const methods = notes.map((n) => (n as { method: string }).method);
    assert.ok(!methods.some((m) => /stray|roots\/list_changed/.test(m)), `${who} heard ${methods.join(', ')}`);
    noCanary(notes, `what ${who} heard`);
  }
  for (const [who, questions] of Object.entries(asked)) assert.deepEqual(questions, [], `${who} was asked`);
  // Counted, every one: 2 tenants, 2 calls, 1 request and 2 notifications each; and the modern call.
  assert.equal(await refusedCount('request'), 5);
  assert.equal(await refusedCount('notification'), 10);
  // Logged once per server and method (each process's method names its own secret, the other
  // notification is one method): and the log holds no secret, even where the method did.
  const lines = logged.filter((l) => l.includes('the gateway takes no such method from servers'));
  assert.equal(lines.filter((l) => l.includes('refused a request')).length, 2, lines.join('\n'));
  assert.equal(lines.filter((l) => l.includes('dropped a notification')).length, 3, lines.join('\n'));
  assert.ok(lines.every((l) => JSON.parse(l).upstream === 'mt'));
  assert.ok(lines.some((l) => /"tenant":"globex"/.test(l)) && lines.some((l) => /"tenant":"acme"/.test(l)));
  noCanary(logged.join('\n'), 'the gateway log');
  for (const c of clients) await c.close();
});
