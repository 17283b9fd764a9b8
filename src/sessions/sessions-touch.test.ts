/**
 * A session in use is never idle to another replica: its use reaches the store at least three times
 * per idle time. It was written every 30 s whatever the idle time, so with `sessionIdleSeconds` under
 * 30 any replica's sweep (which purges by the store's record) ended sessions callers were using.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sessions } from './sessions.ts';
import { withTempStore } from '../../test/support/temp-store.ts';

test("a session used on one replica outlives another replica's purge when the idle time is short", async () => {
  await withTempStore(async (store) => {
    const idleSeconds = 1.5;
    const a = new Sessions(store.sessions, idleSeconds);
    try {
      const s = await a.create({
        scope: '',
        protocolVersion: '2025-11-25',
        principal: 'p',
        tenant: 't',
        clientInfo: null,
        clientCapabilities: null,
      });
      // Used every 200 ms for three idle times, while another replica purges what the store says is idle.
      for (let i = 0; i < 22; i++) {
        await sleep(200);
        await a.get(s.id, 'p', '');
        await store.sessions.purgeIdle(idleSeconds * 1000);
      }
      assert.ok(await store.sessions.get(s.id), 'the session in use is still in the store');
      // Unused, it goes at the next purge after its idle time.
      await sleep(idleSeconds * 1000 + 200);
      await store.sessions.purgeIdle(idleSeconds * 1000);
      assert.equal(await store.sessions.get(s.id), undefined);
    } finally {
      a.close();
    }
  });
});
