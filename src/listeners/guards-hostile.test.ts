import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { acceptsJsonAndSse, acceptsSse, checkMediaType, readBody } from './guards.ts';
import { GatehouseError } from '../protocol/errors.ts';
import { RequestBudget } from '../util/request-budget.ts';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof GatehouseError ? `${e.code}: ${e.message}` : 'other';
  }
  return 'ok';
};

function fakeReq(headers: Record<string, string> = {}): IncomingMessage & PassThrough {
  return Object.assign(new PassThrough(), { headers }) as unknown as IncomingMessage & PassThrough;
}

test('accept: required, q=0 honoured, the most specific range decides', () => {
  assert.deepEqual(acceptsJsonAndSse(undefined), { ok: false, sse: false });
  assert.deepEqual(acceptsJsonAndSse(' '), { ok: false, sse: false });
  assert.deepEqual(acceptsJsonAndSse('application/json, text/event-stream'), { ok: true, sse: true });
  assert.deepEqual(acceptsJsonAndSse('application/json'), { ok: true, sse: false });
  assert.deepEqual(acceptsJsonAndSse('*/*'), { ok: true, sse: true });
  assert.deepEqual(acceptsJsonAndSse('application/json;q=0, text/event-stream;q=0'), { ok: false, sse: false });
  assert.deepEqual(acceptsJsonAndSse('*/*, text/event-stream;q=0'), { ok: true, sse: false });
  assert.equal(acceptsJsonAndSse('text/html').ok, false);
  assert.ok(
    acceptsSse('text/event-stream') &&
      acceptsSse('text/*') &&
      !acceptsSse(undefined) &&
      !acceptsSse('application/json'),
  );
});

test('media type: json in utf-8, uncompressed; anything else is 415', () => {
  assert.equal(
    code(() => checkMediaType('application/json', undefined)),
    'ok',
  );
  assert.equal(
    code(() => checkMediaType('Application/JSON; charset="UTF-8"', 'identity')),
    'ok',
  );
  assert.match(
    code(() => checkMediaType('application/json; charset=utf-7', undefined)),
    /^E_UNSUPPORTED_MEDIA: unsupported charset `utf-7`/,
  );
  assert.match(
    code(() => checkMediaType('application/json; charset=iso-8859-1', undefined)),
    /^E_UNSUPPORTED_MEDIA/,
  );
  assert.match(
    code(() => checkMediaType('application/json', 'gzip')),
    /^E_UNSUPPORTED_MEDIA: unsupported content-encoding `gzip`/,
  );
  assert.match(
    code(() => checkMediaType('application/json', 'br, gzip')),
    /^E_UNSUPPORTED_MEDIA/,
  );
  assert.match(
    code(() => checkMediaType('text/plain', undefined)),
    /^E_UNSUPPORTED_MEDIA/,
  );
  assert.match(
    code(() => checkMediaType(undefined, undefined)),
    /^E_UNSUPPORTED_MEDIA/,
  );
});

test('body: invalid utf-8 is a parse error, not U+FFFD', async () => {
  const req = fakeReq();
  const p = readBody(req, 1000);
  req.end(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]));
  await assert.rejects(p, (e: GatehouseError) => e.code === 'E_PARSE' && /not valid utf-8/.test(e.message));
  const ok = fakeReq();
  const q = readBody(ok, 1000);
  ok.end(Buffer.from('{"a":"é"}'));
  assert.equal(await q, '{"a":"é"}');
});

test('body: a slow body is refused when its time is up', async () => {
  const req = fakeReq();
  const p = readBody(req, 1000, 150);
  req.write('{"a":');
  await assert.rejects(p, (e: GatehouseError) => e.code === 'E_REQUEST_TIMEOUT');
});

test('body: taken from the request budget as it arrives; a declared length or a chunk that does not fit refuses it', {
  timeout: 10_000,
}, async () => {
  const budget = new RequestBudget(200, (r) => new GatehouseError('E_TOO_MANY_REQUEST_BYTES', `over (${r.reason})`));
  // A declared length over the tenant's half (100): refused before a byte is read.
  const declared = fakeReq({ 'content-length': '101' });
  const early = readBody(declared, 1000, 0, budget.hold('acme'));
  declared.end('x'.repeat(101));
  await assert.rejects(
    early,
    (e: GatehouseError) => e.code === 'E_TOO_MANY_REQUEST_BYTES' && e.message === 'over (tenant)',
  );
  // Held while it arrives and after it is read, until its hold is released.
  const first = budget.hold('acme');
  const ok = fakeReq();
  const read = readBody(ok, 1000, 0, first);
  ok.write('{"a":"');
  ok.end(`${'x'.repeat(50)}"}`);
  assert.equal((await read).length, 58);
  assert.equal(budget.heldBy('acme'), 58, 'still held once read');
  // No length declared: refused at the chunk that goes over, reading stopped.
  const chunked = fakeReq();
  const over = readBody(chunked, 1000, 0, budget.hold('acme'));
  chunked.write('x'.repeat(40));
  chunked.end('x'.repeat(40));
  await assert.rejects(over, (e: GatehouseError) => e.code === 'E_TOO_MANY_REQUEST_BYTES');
  assert.equal(chunked.listenerCount('data'), 0, 'no longer read');
  assert.equal(budget.heldBy('acme'), 98, 'what it had taken is held until its answer is over');
  first.release();
  assert.equal(budget.heldBy('acme'), 40);
});
