import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplyAcks, confirmed, modeKey, principalKey, standing, stoppedLine } from './acks.ts';
import { silentLogger } from '../observability/logger.ts';
import type { ApplyAckStore, PrincipalRevocation, PrincipalRevocationStore } from '../storage/types.ts';

function fakeStore(
  failFirst = 0,
): ApplyAckStore & { rows: Map<string, { instance: string; version: number; ackedAt: number }[]>; writes: number } {
  const rows = new Map<string, { instance: string; version: number; ackedAt: number }[]>();
  let fails = failFirst;
  const s = {
    rows,
    writes: 0,
    async ack(key: string, instance: string, version: number, at: number) {
      if (fails-- > 0) throw new Error('store down');
      s.writes++;
      rows.set(key, [
        ...(rows.get(key) ?? []).filter((r) => r.instance !== instance),
        { instance, version, ackedAt: at },
      ]);
    },
    async acks(key: string) {
      return rows.get(key) ?? [];
    },
  };
  return s;
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

test('a gateway acknowledges each applied mode once per version', async () => {
  const store = fakeStore();
  const acks = new ApplyAcks(store, 'gw-1', silentLogger());
  const rec = { scope: 'tool:a__b', mode: 'disabled' as const, reason: 'r', setBy: 'x', setAt: 100 };
  acks.modesApplied([rec]);
  await tick();
  acks.modesApplied([rec]);
  await tick();
  assert.equal(store.writes, 1);
  acks.modesApplied([{ ...rec, setAt: 200 }]);
  await tick();
  assert.deepEqual(
    (await store.acks(modeKey('tool:a__b'))).map((r) => [r.instance, r.version]),
    [['gw-1', 200]],
  );
});

test('a failed acknowledgement is written again', async () => {
  const store = fakeStore(1);
  const acks = new ApplyAcks(store, 'gw-1', silentLogger());
  acks.applied([{ key: 'k', version: 1 }]);
  for (let i = 0; i < 40 && !store.writes; i++) await tick(50);
  assert.equal(store.writes, 1);
  acks.stop();
});

test('principal revocations are acknowledged after the follower read (and applied) them', async () => {
  const store = fakeStore();
  const r: PrincipalRevocation = {
    kind: 'subject',
    value: 'mallory',
    issuer: '',
    reason: 'r',
    revokedBy: 'x',
    revokedAt: 5,
  };
  const inner: PrincipalRevocationStore = { revoke: async () => {}, restore: async () => true, list: async () => [r] };
  const followed = new ApplyAcks(store, 'gw-1', silentLogger()).following(inner);
  assert.deepEqual(await followed.list(), [r]);
  assert.equal(store.writes, 0, 'not before the reader had the list');
  await tick();
  assert.deepEqual(
    (await store.acks(principalKey(r))).map((a) => a.version),
    [5],
  );
});

test('confirmed: waits for every live gateway at the version, reports the time to effect, or who is missing', async () => {
  const store = fakeStore();
  await store.ack('k', 'gw-1', 100, 150);
  await store.ack('k', 'gw-2', 50, 60); // an older version: not this change
  const pending = confirmed(['gw-1', 'gw-2'], () => store.acks('k'), { at: 100, version: 100, timeoutMs: 2000 });
  await tick(100);
  await store.ack('k', 'gw-2', 100, 340);
  assert.deepEqual(await pending, { gateways: 2, confirmed: true, timeToEffectMs: 240, missing: [], stopped: [] });
  const late = await confirmed(['gw-1', 'gw-3'], () => store.acks('k'), { at: 100, version: 100, timeoutMs: 100 });
  assert.deepEqual(late, { gateways: 2, confirmed: false, timeToEffectMs: null, missing: ['gw-3'], stopped: [] });
  assert.deepEqual(await confirmed([], () => store.acks('k'), { at: 0, timeoutMs: 0 }), {
    gateways: 0,
    confirmed: true,
    timeToEffectMs: 0,
    missing: [],
    stopped: [],
  });
});

test('standing: a gateway that stops heartbeating before it acknowledged is no longer waited for', () => {
  const acked = [{ instance: 'gw-1', ackedAt: 5 }];
  assert.deepEqual(standing(['gw-1', 'gw-2'], acked, undefined, []), { missing: ['gw-2'], stopped: [] });
  assert.deepEqual(standing(['gw-1', 'gw-2'], acked, ['gw-1', 'gw-2'], []), { missing: ['gw-2'], stopped: [] });
  assert.deepEqual(standing(['gw-1', 'gw-2'], acked, ['gw-1'], []), { missing: [], stopped: ['gw-2'] });
  // Stopped stays stopped (a later read need not see it again); one that acknowledged after all is neither.
  assert.deepEqual(standing(['gw-1', 'gw-2'], acked, ['gw-1', 'gw-2'], ['gw-2']), { missing: [], stopped: ['gw-2'] });
  assert.deepEqual(standing(['gw-1', 'gw-2'], [...acked, { instance: 'gw-2', ackedAt: 9 }], ['gw-1'], ['gw-2']), {
    missing: [],
    stopped: [],
  });
  // Acknowledged, then stopped: it applied the change, nothing to report.
  assert.deepEqual(standing(['gw-1'], acked, [], []), { missing: [], stopped: [] });
});

test('confirmed: a gateway killed while waited for is reported as stopped, not waited for until the deadline', async () => {
  const store = fakeStore();
  await store.ack('k', 'gw-1', 100, 150);
  let alive = ['gw-1', 'vm/gw/75b9748e06a9cabb'];
  const pending = confirmed(['gw-1', 'vm/gw/75b9748e06a9cabb'], () => store.acks('k'), {
    at: 100,
    version: 100,
    timeoutMs: 60_000,
    stillLive: async () => alive,
  });
  await tick(100);
  alive = ['gw-1'];
  assert.deepEqual(await pending, {
    gateways: 2,
    confirmed: true,
    timeToEffectMs: 50,
    missing: [],
    stopped: ['vm/gw/75b9748e06a9cabb'],
  });
  assert.match(
    stoppedLine(['vm/gw/75b9748e06a9cabb']),
    /stopped answering .*no heartbeat for over 5 s.*vm\/gw\/75b9748e06a9cabb \(on host vm\)/,
  );
  assert.equal(stoppedLine([]), '');
});
