/**
 * `gatehouse_limits_degraded` follows the limits' Redis connection on its own: lost, it turns 1; ready
 * again, 0, on a gateway that has no limited call meanwhile, so an operator's alert fires and clears
 * by itself. Redis is cut for this gateway only, through a TCP proxy on loopback (the shared server is
 * never touched).
 */
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { startGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { dropRedisKeys, requireService } from './support/services.ts';
import { tcpProxy } from './support/tcp-proxy.ts';

test('the limits gauge turns 1 when the Redis connection is lost and 0 when it is ready again, with no call between', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const proxy = await tcpProxy(t, 6379);
  const prefix = `gatehouse-test:limits-gauge:${randomUUID()}:`;
  const g = await startGateway('', {
    top:
      `limits:\n  redis: { url: "redis://127.0.0.1:${proxy.port}", keyPrefix: "${prefix}" }\n` +
      '  rules:\n    - { id: per-user, scope: principal, rate: { points: 60, perSeconds: 60 } }\n',
  });
  t.after(async () => {
    await g.close();
    await dropRedisKeys(prefix);
  });
  const gauge = async () =>
    /^gatehouse_limits_degraded (\S+)$/m.exec(await (await fetch(`${g.url}/metrics`)).text())?.[1];
  await eventually(async () => (await gauge()) === '0');
  await proxy.down();
  await eventually(async () => (await gauge()) === '1');
  await proxy.up();
  await eventually(async () => (await gauge()) === '0');
});
