/**
 * Reloading `limits` while calls run gives nothing back: a call holding a concurrency slot keeps it
 * (in memory, and on Redis past the lease TTL, the old limiter still renewing it), its end frees the
 * slot at once, and a caller throttled at 5/hour stays throttled when the operator lowers it to 3.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { postModernCall, replyOf, type Reply } from './support/rpc.ts';
import { dropRedisKeys, requireService } from './support/services.ts';
import { loadConfig } from '../src/config/load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-limits-reload-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const servers = (file: string) =>
  stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
  `    env: { RECORD_FILE: ${JSON.stringify(file)} }\n` +
  '    tools: { record: { class: READ }, slow: { class: READ } }\n';

const limits = (redis: string, hourly: number, other: number) =>
  `limits:\n${redis}  rules:\n` +
  "    - { id: slow-cap, scope: tool, tools: ['rec__slow'], concurrency: 1 }\n" +
  `    - { id: hourly, scope: principal, tools: ['rec__record'], rate: { points: ${hourly}, perSeconds: 3600 } }\n` +
  `    - { id: unrelated, scope: tenant, tools: ['rec__other'], rate: { points: ${other}, perSeconds: 60 } }\n`;

const call = async (g: TestGateway, key: string, name: string, args: Record<string, unknown>): Promise<Reply> =>
  replyOf(await postModernCall(g.url, name, args, { token: key }));

/** A gateway with the limits `section`; `reloadTo` rewrites its config file's limits and reloads it. */
async function gateway(t: TestContext, name: string, section: string) {
  const record = join(mkdtempSync(join(tmp, `${name}-`)), 'rec.jsonl');
  const g = await startGateway(servers(record), { top: `identity: { apiKeys: true }\n${section}` });
  t.after(() => g.close());
  const key = await createKey(g.file, { name: 'caller', tenant: 'acme', scopes: 'x' });
  const slowCalls = () =>
    readFileSync(record, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"tools/call"') && l.includes('"slow"')).length;
  const reloadTo = async (next: string) => {
    writeFileSync(g.file, readFileSync(g.file, 'utf8').replace(section, next));
    return g.gw.reload(await loadConfig(g.file));
  };
  return { g, key, slowCalls, reloadTo };
}

test('memory: a reload while a call holds the concurrency slot keeps it held, and a lowered rate is no refill', async (t) => {
  const section = limits('', 5, 100);
  const { g, key, slowCalls, reloadTo } = await gateway(t, 'memory', section);
  for (let i = 0; i < 5; i++) assert.ok((await call(g, key, 'rec__record', { note: `n${i}` })).result);
  assert.match((await call(g, key, 'rec__record', { note: 'n5' })).error?.message ?? '', /rate limited \(hourly\)/);

  const first = call(g, key, 'rec__slow', { ms: 3000 });
  await eventually(() => slowCalls() === 1);
  const notes = await reloadTo(limits('', 3, 101)); // the operator lowers the hourly rate, and changes another number

  const second = await call(g, key, 'rec__slow', { ms: 1 });
  assert.match(second.error?.message ?? '', /rate limited \(slow-cap\)/, 'the first call still holds the one slot');
  assert.match((await call(g, key, 'rec__record', { note: 'n6' })).error?.message ?? '', /rate limited \(hourly\)/);
  assert.ok((await first).result);
  assert.ok((await call(g, key, 'rec__slow', { ms: 1 })).result, 'the slot is free once the first call ends');
  assert.equal(slowCalls(), 2);
  assert.ok(
    notes.some((n) => /carried over/.test(n)),
    notes.join('; '),
  );
});

test('redis: a reload of the Redis settings mid-call: the old limiter renews the lease past its TTL and releases it at the end', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const keyPrefix = `gatehouse-test:limits-reload:${randomUUID()}:`;
  t.after(() => dropRedisKeys(keyPrefix));
  const redis = (timeout: number) =>
    `  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${keyPrefix}", leaseTtlMs: 1000, commandTimeoutMs: ${timeout} }\n`;
  const section = limits(redis(2000), 5, 100);
  const { g, key, slowCalls, reloadTo } = await gateway(t, 'redis', section);

  const first = call(g, key, 'rec__slow', { ms: 4000 });
  await eventually(() => slowCalls() === 1);
  await reloadTo(limits(redis(2500), 5, 100));
  await sleep(2000); // two lease TTLs: only renewal keeps the slot taken
  const second = await call(g, key, 'rec__slow', { ms: 1 });
  assert.match(second.error?.message ?? '', /rate limited \(slow-cap\)/, 'the running call still holds the slot');
  assert.ok((await first).result);
  assert.ok((await call(g, key, 'rec__slow', { ms: 1 })).result, 'released at its end, not held until the TTL');
  assert.equal(slowCalls(), 2);
});
