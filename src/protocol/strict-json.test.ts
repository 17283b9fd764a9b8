import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStrictJson } from './strict-json.ts';
import { GatehouseError } from './errors.ts';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof GatehouseError ? e.code : 'other';
  }
  return 'ok';
};

test('parses ordinary json', () => {
  assert.deepEqual(parseStrictJson('{"a":[1,{"b":"c"}],"d":null}', 10), { a: [1, { b: 'c' }], d: null });
});

test('refuses duplicate keys, including escaped spellings of the same key', () => {
  assert.equal(
    code(() => parseStrictJson('{"name":"a","name":"b"}', 10)),
    'E_DUPLICATE_KEY',
  );
  assert.equal(
    code(() => parseStrictJson('{"name":"a","n\\u0061me":"b"}', 10)),
    'E_DUPLICATE_KEY',
  );
  assert.equal(
    code(() => parseStrictJson('{"p":{"x":1,"x":2}}', 10)),
    'E_DUPLICATE_KEY',
  );
});

test('the same key in sibling objects and string values that look like keys are fine', () => {
  assert.equal(
    code(() => parseStrictJson('[{"a":1},{"a":2}]', 10)),
    'ok',
  );
  assert.equal(
    code(() => parseStrictJson('{"a":"a","b":["a","a"],"c":"\\"a\\":"}', 10)),
    'ok',
  );
  assert.equal(
    code(() => parseStrictJson('{"a":{"a":{"a":1}}}', 10)),
    'ok',
  );
});

test('refuses nesting beyond the limit without recursion', () => {
  assert.equal(
    code(() => parseStrictJson('['.repeat(100_000) + ']'.repeat(100_000), 64)),
    'E_TOO_DEEP',
  );
  assert.equal(
    code(() => parseStrictJson(`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`, 64)),
    'E_TOO_DEEP',
  );
  assert.equal(
    code(() => parseStrictJson(`${'{"a":'.repeat(64)}1${'}'.repeat(64)}`, 64)),
    'ok',
  );
});

test('refuses invalid json with a parse error', () => {
  assert.equal(
    code(() => parseStrictJson('{"a":', 10)),
    'E_PARSE',
  );
  assert.equal(
    code(() => parseStrictJson('', 10)),
    'E_PARSE',
  );
  assert.equal(
    code(() => parseStrictJson('{"a":1}x', 10)),
    'E_PARSE',
  );
});

test('a top-level number id a double cannot hold is kept exactly and written back verbatim', async () => {
  const { ExactNumberId, classify, success } = await import('./jsonrpc.ts');
  const big = '{"jsonrpc":"2.0","id": 9007199254740993123,"method":"ping"}';
  const v = parseStrictJson(big, 10) as { id: unknown };
  assert.ok(v.id instanceof ExactNumberId);
  assert.equal(String(v.id), '9007199254740993123');
  const c = classify(v);
  assert.equal(c.kind, 'request');
  assert.equal(
    JSON.stringify(success((c as { msg: { id: number } }).msg.id, {})),
    '{"jsonrpc":"2.0","id":9007199254740993123,"result":{}}',
  );
  assert.equal(JSON.stringify(parseStrictJson('{"id":1.0}', 10)), '{"id":1.0}');
  assert.equal((parseStrictJson('{"id":42}', 10) as { id: unknown }).id, 42, 'ordinary ids stay numbers');
  assert.equal((parseStrictJson('{"id":"9007199254740993123"}', 10) as { id: unknown }).id, '9007199254740993123');
  // Only the envelope id is carried by its digits; the same digits elsewhere are refused (below).
  assert.equal(
    code(() => parseStrictJson('{"params":{"id":9007199254740993123}}', 10)),
    'E_INEXACT_NUMBER',
  );
});

test("a cancellation's requestId a double cannot hold is kept exactly, so it still names its request", async () => {
  const { ExactNumberId, idKey } = await import('./jsonrpc.ts');
  const request = parseStrictJson('{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call"}', 10) as {
    id: unknown;
  };
  const cancel = parseStrictJson(
    '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"x","requestId": 9007199254740993}}',
    10,
  ) as { params: { requestId: unknown } };
  assert.ok(cancel.params.requestId instanceof ExactNumberId);
  assert.equal(idKey(cancel.params.requestId), idKey(request.id));
  // Its neighbour, which a double would merge with it, is another request.
  const other = parseStrictJson('{"params":{"requestId":9007199254740992}}', 10) as { params: { requestId: unknown } };
  assert.notEqual(idKey(other.params.requestId), idKey(request.id));
  // Only params.requestId: ordinary ones stay numbers, and elsewhere nothing changes.
  assert.equal(
    (parseStrictJson('{"params":{"requestId":7}}', 10) as { params: { requestId: unknown } }).params.requestId,
    7,
  );
  assert.equal(
    code(() => parseStrictJson('{"result":{"requestId":9007199254740993}}', 10)),
    'E_INEXACT_NUMBER',
  );
  assert.equal(
    code(() => parseStrictJson('{"requestId":9007199254740993}', 10)),
    'E_INEXACT_NUMBER',
  );
  // A string id and a number id with the same digits are different requests.
  assert.notEqual(idKey('7'), idKey(7));
});

test('a request id is a name, not a payload: at most 1024 characters, as a string or as digits', async () => {
  const { classify } = await import('./jsonrpc.ts');
  const at = (id: string) => classify(parseStrictJson(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`, 10));
  assert.equal(at(JSON.stringify('x'.repeat(1024))).kind, 'request');
  assert.deepEqual(at(JSON.stringify('x'.repeat(1025))), {
    kind: 'invalid',
    reason: 'id must be at most 1024 characters',
    id: null,
  });
  assert.equal(at('9'.repeat(1025)).kind, 'invalid');
});

test('a number a double cannot hold is refused wherever it stands, naming it; exact ones and digits in strings pass', () => {
  const call = (args: string) =>
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"close_ticket","arguments":${args}}}`;
  for (const args of [
    '{"ticket":9007199254740993}',
    '{"ticket":-12345678901234567890}',
    '{"ids":[1,2,9007199254740993]}',
    '{"amount":0.10000000000000000001}',
    '{"n":1e400}',
    '{"n":1e-400}',
  ])
    assert.equal(
      code(() => parseStrictJson(call(args), 64)),
      'E_INEXACT_NUMBER',
      args,
    );
  try {
    parseStrictJson(call('{"ticket":9007199254740993}'), 64);
  } catch (e) {
    assert.match((e as Error).message, /`9007199254740993` cannot be carried exactly.*send it as a string/);
  }
  for (const args of [
    '{"ticket":9007199254740991}',
    '{"ticket":"9007199254740993"}',
    '{"a":1.0,"b":1e3,"c":0.1,"d":-0,"e":1.5e300}',
    '{"text":"12345678901234567890 1e999"}',
  ])
    assert.equal(
      code(() => parseStrictJson(call(args), 64)),
      'ok',
      args,
    );
  // The id and a cancellation's requestId are carried by their digits instead (tests above).
  assert.equal(
    code(() => parseStrictJson('{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}', 64)),
    'ok',
  );
  assert.equal(
    code(() =>
      parseStrictJson(
        '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12345678901234567890}}',
        64,
      ),
    ),
    'ok',
  );
  // ...but only those: the same digits under another key of params, or nested deeper, are refused.
  assert.equal(
    code(() => parseStrictJson('{"jsonrpc":"2.0","method":"x","params":{"other":12345678901234567890}}', 64)),
    'E_INEXACT_NUMBER',
  );
  assert.equal(
    code(() => parseStrictJson('{"jsonrpc":"2.0","method":"x","params":{"a":{"requestId":12345678901234567890}}}', 64)),
    'E_INEXACT_NUMBER',
  );
});

test('short integers are let through on their digits alone; a fraction, an exponent or a 16th digit gets the full check', () => {
  const args = (a: string) => `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":${a}}}`;
  for (const ok of ['[0,-0,7,-999999999999999,999999999999999]', '[1.5,2e3,-4E-2]', `[${'0,'.repeat(9999)}0]`])
    assert.equal(
      code(() => parseStrictJson(args(ok), 64)),
      'ok',
      ok.slice(0, 40),
    );
  // Each begins with up to 15 digits a double holds: what follows them decides.
  for (const inexact of ['[100000000000000.00000000001]', '[100000000000000e400]', '[-9999999999999999]'])
    assert.equal(
      code(() => parseStrictJson(args(inexact), 64)),
      'E_INEXACT_NUMBER',
      inexact,
    );
  for (const bad of ['[01]', '[-]', '[-01]', '[1.]'])
    assert.equal(
      code(() => parseStrictJson(args(bad), 64)),
      'E_PARSE',
      bad,
    );
  assert.deepEqual((parseStrictJson(args('[12,-3,0]'), 64) as { params: { a: number[] } }).params.a, [12, -3, 0]);
});

test('a request id is a string or an integer written in digits: other numbers are refused, naming the id (walk S, F8)', async () => {
  const { classify } = await import('./jsonrpc.ts');
  const at = (id: string) => classify(parseStrictJson(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`, 10));
  for (const id of ['1e400', '1.0000000000000000001', '-1e-400', '1.5', '1.0', '1e3', '-0.0', '1e21']) {
    const c = at(id);
    assert.equal(c.kind, 'invalid', id);
    assert.equal(
      (c as { reason: string }).reason,
      `id must be a string or an integer written in digits, not \`${id}\``,
    );
    assert.equal((c as { id: unknown }).id, null, 'never echoed');
  }
  assert.match((at(`1.${'0'.repeat(100)}1`) as { reason: string }).reason, /not `1\.0{35}\.\.\.`$/);
  for (const id of ['0', '-0', '-7', '42', '9007199254740993', '123456789012345678901234567890', '"1e400"'])
    assert.equal(at(id).kind, 'request', id);
  // An invalid message with such an id is answered with id null, not the id as written.
  const other = classify(parseStrictJson('{"jsonrpc":"1.0","id":1e400,"method":"ping"}', 10));
  assert.deepEqual(other, { kind: 'invalid', reason: 'jsonrpc must be "2.0"', id: null });
});
