import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENESIS, bodyOf, chainHash, seal, type AuditEvent } from './audit-event.ts';

const draft = (): Omit<AuditEvent, 'hash'> => ({
  v: 1,
  id: 'id-1',
  time: '2026-12-03T00:00:00.000Z',
  stream: 'h/gw/1',
  seq: 1,
  prev: GENESIS,
  kind: 'call.intent',
  tool: 'echo__echo',
  args: { text: 'é\u0000"\\', n: [1, 2.5, -0] },
  detail: undefined,
});

test('a sealed record is stored as text that parses back to it and verifies with chainHash', () => {
  const e = seal(draft());
  const body = bodyOf(e);
  const parsed = JSON.parse(body) as AuditEvent;
  assert.deepEqual(parsed, JSON.parse(JSON.stringify(e)));
  assert.equal(e.hash, chainHash(parsed));
  assert.equal(chainHash(e), e.hash);
});

test('a record sealed elsewhere (read back from the store) is stored as its JSON', () => {
  const e = { ...seal(draft()) };
  assert.equal(bodyOf(e), JSON.stringify(e));
});

test('seal refuses what RFC 8785 cannot encode', () => {
  assert.throws(() => seal({ ...draft(), tool: '\ud800' }), /surrogate/i);
});
