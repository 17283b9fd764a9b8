import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { paginate, type CursorBinding } from './paginate.ts';

const key = randomBytes(32);
const alice: CursorBinding = { key, bind: JSON.stringify(['tools/list', '', 'alice']) };
const name = (x: { name: string }) => x.name;
const tools = (...names: string[]) => names.map((n) => ({ name: n }));

test('pages through a list in its own order with sealed cursors', () => {
  const items = tools('g', 'a', 'e', 'c', 'b', 'f', 'd');
  const a = paginate(items, undefined, 3, alice, name);
  assert.deepEqual(a.page.map(name), ['g', 'a', 'e']);
  assert.match(a.nextCursor!, /^c1\./);
  const b = paginate(items, a.nextCursor, 3, alice, name);
  assert.deepEqual(b.page.map(name), ['c', 'b', 'f']);
  const c = paginate(items, b.nextCursor, 3, alice, name);
  assert.deepEqual(c.page.map(name), ['d']);
  assert.equal(c.nextCursor, undefined);
});

test('a change between two pages neither repeats nor skips what was there all along', () => {
  const first = paginate(tools('a', 'b', 'c', 'd', 'e', 'f'), undefined, 3, alice, name);
  // `b` removed and `0` added before the cursor; `cc` added after it.
  const second = paginate(tools('0', 'a', 'c', 'cc', 'd', 'e', 'f'), first.nextCursor, 3, alice, name);
  assert.deepEqual(second.page.map(name), ['cc', 'd', 'e']);
  // The cursor's own item removed: the walk goes on after where it was.
  const third = paginate(tools('a', 'b', 'd', 'e', 'f'), first.nextCursor, 3, alice, name);
  assert.deepEqual(third.page.map(name), ['d', 'e', 'f']);
  // Every key the cursor remembers removed: it goes on from the count shown (a rare case that can skip).
  const fourth = paginate(tools('d', 'e', 'f', 'g'), first.nextCursor, 3, alice, name);
  assert.deepEqual(fourth.page.map(name), ['g']);
});

test('a forged, altered or malformed cursor, or one from another listing, endpoint, caller or key, is invalid params', () => {
  const items = tools('a', 'b', 'c', 'd');
  const { nextCursor } = paginate(items, undefined, 2, alice, name);
  const body = Buffer.from(JSON.stringify('a'), 'utf8').toString('base64url');
  const forged = `c1.${body}.${nextCursor!.split('.')[2]}`;
  const others: CursorBinding[] = [
    { key, bind: JSON.stringify(['prompts/list', '', 'alice']) },
    { key, bind: JSON.stringify(['tools/list', 'files', 'alice']) },
    { key, bind: JSON.stringify(['tools/list', '', 'bob']) },
    { key: randomBytes(32), bind: alice.bind },
  ];
  for (const other of others) assert.throws(() => paginate(items, nextCursor, 2, other, name), /unknown `cursor`/);
  for (const bad of [
    'nope',
    42,
    forged,
    Buffer.from('o2').toString('base64url'),
    `${nextCursor}x`,
    'c1.x'.repeat(1000),
  ]) {
    assert.throws(() => paginate(items, bad, 2, alice, name), /unknown `cursor`/);
  }
  assert.deepEqual(paginate(items, nextCursor, 2, alice, name).page.map(name), ['c', 'd']);
});
