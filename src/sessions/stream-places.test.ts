/**
 * Where each legacy session's GET stream is, over a real Redis (the shared one, a key prefix of this
 * test's own): noted by the replica holding it, found by another, removed when it closes unless
 * another replica's stream replaced it; the note names a digest, never the session id; renewed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Fanout } from './fanout.ts';
import { StreamPlaces } from './stream-places.ts';
import { requireService } from '../../test/support/services.ts';
import { eventually } from '../../test/support/eventually.ts';

const URL = 'redis://127.0.0.1:6379';
const A = 'a'.repeat(16);
const B = 'b'.repeat(16);

test("a stream's replica is noted, found elsewhere, and removed only by the replica whose note it is", async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`;
  const bus = new Fanout({ url: URL, channel: `${prefix}replica:x`, onMessage: () => {} });
  const raw = new Redis(URL);
  const [a, b] = [new StreamPlaces(bus, prefix, A), new StreamPlaces(bus, prefix, B)];
  try {
    assert.ok(await bus.ready());
    const session = randomBytes(16).toString('hex');
    assert.equal(await b.where(session), undefined);
    a.stream(session, true);
    await eventually(async () => (await b.where(session)) === A || undefined);
    const keys = await raw.keys(`${prefix}stream:*`);
    assert.equal(keys.length, 1);
    assert.ok(!keys[0].includes(session), 'a digest, not the id');
    const ttl = await raw.pttl(keys[0]);
    assert.ok(ttl > 60 * 60_000 && ttl <= 2 * 60 * 60_000, `${ttl}`);
    // The client opened another GET through B: B's note; A's stream closing leaves it.
    b.stream(session, true);
    await eventually(async () => (await a.where(session)) === B || undefined);
    a.stream(session, false);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await a.where(session), B);
    // Redis lost the note (restarted): renewed from what B holds.
    await raw.del(keys[0]);
    b.renew();
    await eventually(async () => (await a.where(session)) === B || undefined);
    b.stream(session, false);
    await eventually(async () => (await a.where(session)) === undefined || undefined);
  } finally {
    a.close();
    b.close();
    raw.disconnect();
    await bus.close();
  }
});
