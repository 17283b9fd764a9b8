import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENESIS, type AuditEvent } from '../model/audit-event.ts';
import { sha256 } from '../util/sha256.ts';
import { keptLine, notItsIntent, readKeptLine, type KeptRecord } from './kept-record.ts';

const INTENT = '01890a5d-ac96-774b-bcce-b302099a8057';
const ID = '01890a5d-ac96-774b-bcce-b302099a8058';
const STREAM = 'host/gw/0123456789abcdef';
const actor = { subject: 's', tenant: 't', via: 'jwt', issuer: 'https://i' };
const record: KeptRecord = {
  kind: 'call.outcome',
  id: ID,
  intent: INTENT,
  outcome: 'ok',
  requestId: '7',
  traceId: 'tr',
  runId: 'run',
  actor,
  server: 'chaos',
  tool: 'chaos__slow',
  latencyMs: 1.5,
};
const intent = {
  v: 1,
  id: INTENT,
  time: new Date().toISOString(),
  stream: STREAM,
  seq: 4,
  prev: GENESIS,
  hash: GENESIS,
  kind: 'call.intent',
  requestId: '7',
  traceId: 'tr',
  runId: 'run',
  // Stored in RFC 8785 order: the same actor all the same.
  actor: { issuer: 'https://i', subject: 's', tenant: 't', via: 'jwt' },
  server: 'chaos',
  tool: 'chaos__slow',
} as AuditEvent;

/** A line with a right checksum over `body`: what only someone rewriting the file whole could make. */
function forged(body: unknown): string {
  const text = JSON.stringify(body);
  return `{"sum":"${sha256(text)}","body":${text}}`;
}

test('a kept line reads back as written, and may close its own intent', () => {
  const k = readKeptLine(keptLine(STREAM, record));
  assert.ok(!('refused' in k));
  assert.deepEqual(k, { stream: STREAM, record });
  assert.equal(notItsIntent(k, intent, 'host/gw/other'), undefined);
});

test('an edited, cut or foreign line is refused, saying why', () => {
  const line = keptLine(STREAM, record);
  const refused = (l: string) => {
    const k = readKeptLine(l);
    assert.ok('refused' in k, l);
    return k.refused;
  };
  assert.match(refused(line.replace('"ok"', '"error"')), /checksum does not match/);
  assert.match(refused(line.slice(0, -5)), /not a kept-outcome line/);
  assert.match(refused('{"kind":"call.outcome"}'), /not a kept-outcome line/);
  assert.match(refused(`${line.slice(0, -1)}${' '.repeat(1024 * 1024)}}`), /longer than/);
  assert.match(
    refused(forged({ v: 1, stream: STREAM, record: { ...record, kind: 'admin.action' } })),
    /not a call\.outcome/,
  );
  assert.match(refused(forged({ v: 1, stream: STREAM, record: { ...record, seq: 9 } })), /carries `seq`/);
  assert.match(refused(forged({ v: 1, stream: STREAM, record: { ...record, id: 'x' } })), /no record id/);
  assert.match(
    refused(forged({ v: 1, stream: STREAM, record: { ...record, outcome: 'fine' } })),
    /audit record schema/,
  );
  assert.match(refused(forged({ v: 1, stream: STREAM, record: { ...record, extra: 1 } })), /audit record schema/);
  let deep: unknown = 1;
  for (let i = 0; i < 300; i++) deep = [deep];
  assert.match(refused(forged({ v: 1, stream: STREAM, record: { ...record, result: deep } })), /nests deeper/);
  assert.match(refused(forged({ v: 2, stream: STREAM, record })), /not a kept outcome/);
});

test("a well-formed line may close only an open intent of the stream that kept it, of the same call, not this process's", () => {
  const k = readKeptLine(keptLine(STREAM, record));
  assert.ok(!('refused' in k));
  assert.match(notItsIntent(k, { ...intent, stream: 'host/gw/live' }, 'x') ?? '', /not of the stream that kept it/);
  assert.match(notItsIntent(k, intent, STREAM) ?? '', /intent of this process/);
  assert.match(notItsIntent(k, { ...intent, requestId: '8' }, 'x') ?? '', /`requestId` is not its intent's/);
  assert.match(notItsIntent(k, { ...intent, actor: { ...actor, tenant: 'u' } }, 'x') ?? '', /`actor`/);
  assert.match(notItsIntent(k, { ...intent, kind: 'call.outcome' } as AuditEvent, 'x') ?? '', /no open intent/);
});
