/**
 * A gateway whose Redis is away from the start (a closed loopback port): it says so at once, in its
 * log and its metrics, for fan-out and for limits, instead of only after the first limited call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { freePort } from './support/processes.ts';

test('Redis unreachable at start: fan-out and limits are logged as down, and the metrics say so', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-redis-away-'));
  const redis = `redis://127.0.0.1:${await freePort()}/10`; // nothing listens there
  const g = await startCli(
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\nlimits:\n  redis: { url: ${JSON.stringify(redis)} }\n  rules:\n    - { id: per-user, scope: principal, rate: { points: 60, perSeconds: 60 } }\nservers: []\n`,
    dir,
  );
  try {
    await g.logged(/fan-out: redis unreachable/);
    await g.logged(/limits: redis unreachable/);
    const metrics = await eventually(async () => {
      const text = await (await fetch(`${g.url}/metrics`)).text();
      return /^gatehouse_limits_degraded 1$/m.test(text) ? text : undefined;
    });
    assert.match(metrics, /^gatehouse_fanout_up 0$/m);
    assert.doesNotMatch(g.log(), /redis:\/\/[^"]*@/, 'no credential in the log');
  } finally {
    await g.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
