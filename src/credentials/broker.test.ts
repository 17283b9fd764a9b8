/**
 * The broker's housekeeping: following the store, a gateway also forgets the gateways gone for an hour
 * (their heartbeats and acknowledgements), at start and then at most once a minute, and a failure
 * there never stops it from following revocations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../observability/logger.ts';
import type { RevocationStore } from '../storage/types.ts';
import { CredentialBroker } from './broker.ts';
import { SecretResolver } from './resolver.ts';

function fakeStore(failForget = false): RevocationStore & { forgotten: number[]; acked: string[] } {
  const s = {
    forgotten: [] as number[],
    acked: [] as string[],
    revoke: async () => {},
    restore: async () => true,
    list: async () => [{ ref: 'vault://x#y', reason: 'r', revokedBy: 'op', revokedAt: 1 }],
    ack: async (ref: string) => void s.acked.push(ref),
    acks: async () => [],
    heartbeat: async () => {},
    live: async () => [],
    forget: async () => {},
    forgetStale: async (before: number) => {
      if (failForget) throw new Error('store busy');
      s.forgotten.push(before);
      return 0;
    },
  };
  return s;
}

test('gateways gone for an hour are forgotten at the first follow, then at most once a minute', async (t) => {
  const start = 1_760_000_000_000;
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const store = fakeStore();
  const broker = new CredentialBroker(new SecretResolver(), store, silentLogger(), 'gw-1');
  await broker.follow();
  assert.deepEqual(store.forgotten, [start - 3_600_000]);
  t.mock.timers.tick(59_999);
  await broker.follow();
  assert.equal(store.forgotten.length, 1);
  t.mock.timers.tick(1);
  await broker.follow();
  assert.deepEqual(store.forgotten, [start - 3_600_000, start + 60_000 - 3_600_000]);
});

test('a failed housekeeping does not stop the broker following revocations', async () => {
  const store = fakeStore(true);
  const broker = new CredentialBroker(new SecretResolver(), store, silentLogger(), 'gw-1');
  await broker.follow();
  assert.deepEqual(store.acked, ['vault://x#y']);
  assert.equal(broker.isRevoked(['vault://x#y']), true);
});
