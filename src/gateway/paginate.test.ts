import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { keyDigests, paginate, paginateKeyed, messageBody, messageChunks, type CursorBinding } from './paginate.ts';

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

test('a cursor remembers the last 32 keys shown, whatever the page size', () => {
  const items = tools(...Array.from({ length: 100 }, (_, i) => `t${i}`));
  // Small pages: the walk goes on after the last key even when the page before it is gone.
  let cursor: string | undefined;
  const seen: string[] = [];
  for (let i = 0; i < 50; i++) {
    const r = paginate(items, cursor, 7, alice, name);
    seen.push(...r.page.map(name));
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  assert.deepEqual(seen, items.map(name));
  // A large page: its last 10 items removed, the walk resumes after the last one still there.
  const big = paginate(items, undefined, 60, alice, name);
  const next = paginate(items.slice(0, 50).concat(items.slice(60)), big.nextCursor, 60, alice, name);
  assert.deepEqual(next.page.map(name), items.slice(60).map(name));
  const gone = paginate(items.slice(0, 28).concat(items.slice(60)), big.nextCursor, 60, alice, name);
  // Keys 28..59 were the 32 remembered ones: all gone, so it goes on from the count shown (60).
  assert.deepEqual(gone.page.map(name), items.slice(92).map(name));
});

test('a listing that keeps its pages answers the same page with the same frozen array', () => {
  const items = tools('a', 'b', 'c', 'd', 'e');
  const listing = { items, keys: keyDigests(items, name), pages: new Map() };
  const a = paginateKeyed(listing, undefined, 2, alice);
  assert.equal(paginateKeyed(listing, undefined, 2, alice).page, a.page);
  assert.ok(Object.isFrozen(a.page));
  const b = paginateKeyed(listing, a.nextCursor, 2, alice);
  assert.deepEqual(b.page.map(name), ['c', 'd']);
  assert.equal(paginateKeyed(listing, a.nextCursor, 2, alice).page, b.page);
  // Without kept pages, a fresh array each time (what `paginate` does).
  assert.notEqual(paginate(items, undefined, 2, alice, name).page, paginate(items, undefined, 2, alice, name).page);
});

test('messageChunks are the UTF-8 of what JSON.stringify writes, and a kept page is serialised once', () => {
  let reads = 0;
  const counted = {
    name: 'b',
    get description() {
      reads++;
      return 'read once';
    },
  };
  const items = [{ name: 'a', nested: { deep: [1, 'twö 日本 🙂', null, { x: undefined }] } }, counted, { name: 'c' }];
  const listing = { items, keys: keyDigests(items, (t) => t.name), pages: new Map() };
  const { page, nextCursor } = paginateKeyed(listing, undefined, 2, alice);
  const messages = [
    { jsonrpc: '2.0', id: 7, result: { tools: page, nextCursor, skip: undefined, fn: () => 1 } },
    { jsonrpc: '2.0', id: 'x"ÿ', result: { tools: page, ttlMs: 0, when: new Date(0), list: [undefined, 1] } },
    { jsonrpc: '2.0', id: null, error: { code: -32602, message: 'bad \u2028 \ud800', data: { page } } },
    { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: [page] } },
  ];
  for (const m of messages) assert.equal(Buffer.concat(messageChunks(m)).toString('utf8'), JSON.stringify(m));
  // The kept page's bytes are one chunk, the same Buffer for every answer that holds the page.
  const once = messageChunks({ jsonrpc: '2.0', id: 1, result: { tools: page } });
  const again = messageChunks({ jsonrpc: '2.0', id: 2, result: { tools: page } });
  assert.equal(once.length, 3);
  assert.equal(once[1], again[1]);
  const before = reads;
  for (let i = 0; i < 3; i++) messageChunks({ jsonrpc: '2.0', id: i, result: { tools: page } });
  assert.equal(reads, before, 'the kept page was not serialised again');
});

test('messageBody: a kept page goes out as messageChunks, any other answer as JSON.stringify text', () => {
  const items = [{ name: 'a' }, { name: 'b' }];
  const keyed = { items, keys: keyDigests(items, (i) => i.name), pages: new Map() };
  const { page } = paginateKeyed(keyed, undefined, 10, alice);
  const listing = { jsonrpc: '2.0', id: 1, result: { tools: page } };
  const chunks = messageBody(listing);
  assert.ok(Array.isArray(chunks));
  assert.equal(Buffer.concat(chunks).toString('utf8'), JSON.stringify(listing));
  const call = { jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'é' }], isError: false } };
  assert.equal(messageBody(call), JSON.stringify(call));
  assert.equal(
    messageBody({ jsonrpc: '2.0', method: 'notifications/progress' }),
    '{"jsonrpc":"2.0","method":"notifications/progress"}',
  );
});
