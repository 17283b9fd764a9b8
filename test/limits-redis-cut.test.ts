/**
 * Redis cut under two gateway replicas (walk X): the local limits a replica falls back on know what it
 * holds and spent through Redis. Two real gateways share limits through one Redis, reached through a
 * TCP proxy this test owns (the shared server is never touched), with `fallbackDivisor: 2`, in front
 * of real upstreams: the recording server's `slow` tool and the SDK's task server's `deploy`.
 * - A cap of 1: a call let through by Redis, then Redis cut: its replica lets no second call in while
 *   it runs (the other replica's local share lets one in); Redis back, the call the other replica let
 *   through locally counts there until it ends, and the first call's release, lost in the cut, is
 *   sent again (no slot leaks for the lease TTL).
 * - A rate of 10 an hour spent on Redis: the cut gives no fresh budget.
 * - A rate of 10 an hour spent in the cut, 3 on each replica: Redis, back, is told, and lets 4 more
 *   through in the hour, not a fresh 10.
 * - A task held through Redis keeps its replica's local slot; a task held locally is held in Redis
 *   once it is back, and freed there when it ends.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { dropRedisKeys, redisAvailable } from './support/services.ts';
import { tcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

const RECORDER = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');
const TASKS = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
const CAPPED = /rate limited \(slow-cap\): concurrency cap of 1 reached/;
const RATED = /rate limited \(records\)/;
const READS = /rate limited \(reads\)/;
const DEPLOYS = /rate limited \(deploys\): concurrency cap of 1 reached/;

describe('limits through Redis, cut and back, on two replicas', () => {
  const prefix = `gatehouse-test:limits-cut:${randomUUID()}:`;
  const records = join(tmpdir(), `gatehouse-limits-cut-${randomUUID()}.jsonl`);
  let proxy: TcpProxy;
  const gws: TestGateway[] = [];
  const clients: Client[] = [];
  let skip = false;
  const cleanups: Array<() => void> = [];

  before(async () => {
    if (!(await redisAvailable())) {
      if (process.env.CI === 'true') assert.fail('redis not reachable on 127.0.0.1:6379');
      skip = true;
      return;
    }
    writeFileSync(records, '');
    // The proxy's own cleanup runs in after(), with the gateways'.
    proxy = await tcpProxy({ after: (f: () => void) => cleanups.push(f) } as never, 6379);
    const servers =
      `${stdioServer('rec', RECORDER)}    env: { RECORD_FILE: ${JSON.stringify(records)} }\n` +
      '    tools: { slow: { class: READ }, record: { class: READ }, read_path: { class: READ } }\n' +
      `${stdioServer('ci', TASKS, ['--quiet'])}    tools: { deploy: { class: WRITE } }\n`;
    const top =
      'inventory: { newTools: accept }\nlimits:\n' +
      `  redis: { url: "redis://127.0.0.1:${proxy.port}", keyPrefix: "${prefix}", fallbackDivisor: 2 }\n` +
      '  rules:\n' +
      "    - { id: slow-cap, scope: tool, tools: ['rec__slow'], concurrency: 1 }\n" +
      "    - { id: records, scope: tool, tools: ['rec__record'], rate: { points: 10, perSeconds: 3600 } }\n" +
      "    - { id: reads, scope: tool, tools: ['rec__read_path'], rate: { points: 10, perSeconds: 3600 } }\n" +
      "    - { id: deploys, scope: tool, tools: ['ci__deploy'], concurrency: 1 }\n";
    for (let i = 0; i < 2; i++) {
      const g = await startGateway(servers, { top });
      gws.push(g);
      const c = new Client({ name: `replica-${i}`, version: '1' });
      await c.connect(new StreamableHTTPClientTransport(new URL(`${g.url}/mcp`)));
      clients.push(c);
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(gws.map((g) => g.close()));
    for (const f of cleanups) f();
    if (!skip) await dropRedisKeys(prefix);
  });

  const degraded = async (i: number) =>
    /^gatehouse_limits_degraded (\S+)$/m.exec(await (await fetch(`${gws[i].url}/metrics`)).text())?.[1];
  let down = false;
  const cut = async () => {
    down = true;
    await proxy.down();
    await eventually(async () => (await degraded(0)) === '1' && (await degraded(1)) === '1');
  };
  const restore = async () => {
    down = false;
    await proxy.up();
    await eventually(async () => (await degraded(0)) === '0' && (await degraded(1)) === '0');
  };
  const slow = (i: number, ms: number) =>
    clients[i].callTool({ name: 'rec__slow', arguments: { ms } }).then((r) => {
      if (r.isError) throw new Error(JSON.stringify(r.content));
      return r;
    });
  const record = (i: number, note: string) => clients[i].callTool({ name: 'rec__record', arguments: { note } });
  const deploy = (i: number) =>
    clients[i].request(
      { method: 'tools/call', params: { name: 'ci__deploy', arguments: { ms: 600_000 }, task: { ttl: 600_000 } } },
      CreateTaskResultSchema,
    );
  const cancel = (i: number, taskId: string) =>
    clients[i].request({ method: 'tasks/cancel', params: { taskId } }, z.object({ status: z.string() }).passthrough());

  test('a cap of 1: the replica whose call Redis let through lets no second in after the cut; back, nothing leaks', async (t) => {
    if (skip) return t.skip('no Redis');
    if (down) await restore(); // an earlier test failed while Redis was cut
    const first = slow(0, 1_500); // through Redis
    await sleep(300);
    await cut();
    await assert.rejects(slow(0, 100), CAPPED, 'its first call still runs: the local share of 1 is taken');
    const other = slow(1, 4_000); // the other replica's local share
    await sleep(200);
    await assert.rejects(slow(1, 100), CAPPED);
    await first; // its release cannot reach Redis
    await restore();
    // Back on Redis: the other replica's call, let through locally and still running, counts there.
    await assert.rejects(slow(0, 100), CAPPED, "the other replica's local call counts in Redis");
    await other;
    // Both ended: the slot is free at once, not after the lease TTL (30 s) of the release lost in the cut.
    await eventually(
      () =>
        slow(0, 10).then(
          () => true,
          () => false,
        ),
      { timeoutMs: 5_000 },
    );
  });

  test('a rate of 10 an hour spent through Redis: the cut gives no fresh budget on either replica', async (t) => {
    if (skip) return t.skip('no Redis');
    if (down) await restore(); // an earlier test failed while Redis was cut
    const up = [];
    for (let i = 0; i < 12; i++)
      up.push(
        await record(i % 2, `up-${i}`).then(
          () => 'ok',
          (e: Error) => e.message,
        ),
      );
    assert.equal(up.filter((r) => r === 'ok').length, 10);
    await cut();
    for (let i = 0; i < 8; i++) await assert.rejects(record(i % 2, `cut-${i}`), RATED, `call ${i} after the cut`);
    const seen = readFileSync(records, 'utf8');
    assert.equal(seen.match(/"note":"up-/g)?.length, 10);
    assert.doesNotMatch(seen, /"note":"cut-/, 'no call after the cut reached the upstream');
    await restore();
  });

  test('a rate of 10 an hour spent in the cut on both replicas is told to Redis once back: 4 more in the hour, not 10', async (t) => {
    if (skip) return t.skip('no Redis');
    if (down) await restore(); // an earlier test failed while Redis was cut
    const read = (i: number) => clients[i].callTool({ name: 'rec__read_path', arguments: { path: '/x' } });
    await cut();
    for (let i = 0; i < 6; i++) await read(i % 2); // 3 of each replica's local share of 5
    await restore();
    const after = [];
    for (let i = 0; i < 10; i++)
      after.push(
        await read(i % 2).then(
          () => 'ok',
          (e: Error) => e.message,
        ),
      );
    assert.equal(after.filter((r) => r === 'ok').length, 4, after.join('; '));
    for (const r of after.slice(4)) assert.match(r, READS);
  });

  test('a task held through Redis keeps its local slot after the cut; one held locally is held in Redis once back', async (t) => {
    if (skip) return t.skip('no Redis');
    if (down) await restore(); // an earlier test failed while Redis was cut
    const a = await deploy(0); // through Redis
    await cut();
    await assert.rejects(deploy(0), DEPLOYS, 'its task still runs');
    const b = await deploy(1); // the other replica's local share
    await assert.rejects(deploy(1), DEPLOYS);
    await restore();
    await assert.rejects(deploy(0), DEPLOYS);
    assert.equal((await cancel(0, a.task.taskId)).status, 'cancelled');
    await assert.rejects(deploy(0), DEPLOYS, "the other replica's task, held locally in the cut, is held in Redis");
    assert.equal((await cancel(1, b.task.taskId)).status, 'cancelled');
    const c = await deploy(0);
    await cancel(0, c.task.taskId);
  });
});
