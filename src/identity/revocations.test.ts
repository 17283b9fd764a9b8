import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PrincipalRevocation } from '../storage/types.ts';
import { PrincipalRevocations } from './revocations.ts';

/** The intervals created and not yet cleared while `fn` runs (unref'd ones included). */
async function liveIntervals(fn: () => Promise<void>): Promise<number> {
  const live = new Set<unknown>();
  const { setInterval: set, clearInterval: clear } = globalThis;
  globalThis.setInterval = ((...args: Parameters<typeof set>) => {
    const h = set(...args);
    live.add(h);
    return h;
  }) as typeof set;
  globalThis.clearInterval = ((h?: Parameters<typeof clear>[0]) => {
    live.delete(h);
    clear(h);
  }) as typeof clear;
  try {
    await fn();
  } finally {
    globalThis.setInterval = set;
    globalThis.clearInterval = clear;
  }
  for (const h of live) clear(h as NodeJS.Timeout);
  return live.size;
}

test('starting twice keeps one poll, and stop ends it', async () => {
  let reads = 0;
  const make = () =>
    new PrincipalRevocations({
      revoke: async () => {},
      restore: async () => false,
      list: async () => {
        reads++;
        return [];
      },
    });
  const twice = make();
  assert.equal(
    await liveIntervals(async () => {
      await twice.start(60_000);
      await twice.start(60_000);
    }),
    1,
    'one poll, not two',
  );
  assert.equal(reads, 2, 'each start reads the list at once');
  const stopped = make();
  assert.equal(
    await liveIntervals(async () => {
      await stopped.start(60_000);
      await stopped.start(60_000);
      stopped.stop();
    }),
    0,
    'nothing left polling a store that may be closed',
  );
});

test('a revoked subject is refused for its issuer, or for every issuer when revoked without one', () => {
  const r = new PrincipalRevocations({ revoke: async () => {}, restore: async () => false, list: async () => [] });
  r.apply([
    { kind: 'subject', value: 'alice', issuer: 'https://idp.example' },
    { kind: 'subject', value: 'bob', issuer: '' },
  ] as PrincipalRevocation[]);
  assert.equal(r.revoked({ subject: 'alice', issuer: 'https://idp.example', via: 'oauth' }), 'principal revoked');
  assert.equal(r.revoked({ subject: 'alice', issuer: 'https://other.example', via: 'oauth' }), undefined);
  assert.equal(r.revoked({ subject: 'bob', issuer: 'apikey', via: 'api-key' }), 'principal revoked');
});
