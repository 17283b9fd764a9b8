import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redactor, WITHHELD } from './redact.ts';

// A canary with a space, a quote, a slash, a plus, non-ASCII and `!` so every encoding differs.
const CANARY = 'Gh0st-Cän "ary/+ 42!';
const bytes = Buffer.from(CANARY, 'utf8');
const r = new Redactor({ secrets: [CANARY] });

// Encodings computed here independently of the implementation.
const b64 = bytes.toString('base64');
const hex = bytes.toString('hex');
const pctAll = [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const json1 = JSON.stringify(CANARY).slice(1, -1); // Gh0st-Cän \"ary/+ 42!
const ENCODINGS: Record<string, string> = {
  raw: CANARY,
  'base64 padded': b64,
  'base64 unpadded': b64.replace(/=+$/, ''),
  'base64url padded': b64.replace(/\+/g, '-').replace(/\//g, '_'),
  'base64url unpadded': b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
  encodeURIComponent: encodeURIComponent(CANARY),
  'percent lowercase hex': encodeURIComponent(CANARY).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  'percent every byte, upper': pctAll.toUpperCase(),
  'percent every byte, lower': pctAll,
  'form encoding (+ for space)': encodeURIComponent(CANARY).replace(/%20/g, '+'),
  URLSearchParams: new URLSearchParams({ q: CANARY }).toString().slice(2),
  'hex lower': hex,
  'hex upper': hex.toUpperCase(),
  'JSON escaped': json1,
  'JSON escaped, \\u00e9 style': json1.replace('ä', '\\u00e4'),
  'JSON escaped, \\u00E9 style': json1.replace('ä', '\\u00E4'),
  'JSON escaped twice': JSON.stringify(json1).slice(1, -1),
};

test('secrets shorter than 6 characters are refused without echoing them', () => {
  assert.throws(
    () => new Redactor({ secrets: ['abc12'] }),
    (e: Error) => /at least 6/.test(e.message) && !e.message.includes('abc12'),
  );
  assert.throws(() => new Redactor({ secrets: ['longenough'] }).withSecrets(['xy']), /at least 6/);
});

for (const [name, enc] of Object.entries(ENCODINGS)) {
  test(`canary secret removed: ${name}`, () => {
    const { text, count } = r.redactString(`before <${enc}> after`);
    assert.ok(!text.includes(enc), text);
    assert.ok(text.includes('[REDACTED:secret]'), text);
    assert.ok(text.startsWith('before <') && text.endsWith('> after'), text);
    assert.ok(count >= 1);
    for (const other of Object.values(ENCODINGS)) assert.ok(!text.includes(other), `${name} left ${other}`);
  });
}

test('canary inside a longer base64 stream, at all 3 byte alignments, std and url-safe', () => {
  const inner = bytes.subarray(2, bytes.length - 2); // what must not be recoverable
  for (let k = 0; k < 3; k++) {
    const head = Buffer.from('some leading bytes, '.repeat(3)).subarray(0, 30 + k);
    const tail = Buffer.from('-trailing bytes 0123456789');
    const blob = Buffer.concat([head, bytes, tail]);
    for (const enc of [blob.toString('base64'), blob.toString('base64url')]) {
      const { text, count } = r.redactString(enc);
      assert.equal(count, 1, `alignment ${k}`);
      // No character carrying any bit of the canary survives: what is left on each side of the
      // marker fits in the characters made only of the neighbouring bytes' bits (the stream's
      // last character is completed with zero bits, hence ceil on the right).
      const [before, after] = text.split('[REDACTED:secret]');
      assert.ok(before.length <= Math.floor((head.length * 8) / 6), `alignment ${k}: ${before}`);
      assert.ok(after.replace(/=+$/, '').length <= Math.ceil((tail.length * 8) / 6), `alignment ${k}: ${after}`);
      // Decode every piece the marker left, at every character offset: the canary is not in there.
      for (const piece of text.split('[REDACTED:secret]'))
        for (let j = 0; j < 4; j++)
          assert.ok(!Buffer.from(piece.slice(j), 'base64').includes(inner), `alignment ${k}, ${enc}`);
      assert.ok(text.startsWith(enc.slice(0, 30)), 'the unrelated prefix is kept');
    }
  }
});

test('canary inside a JSON string inside a string inside an object', () => {
  const value = { note: JSON.stringify({ cfg: JSON.stringify({ k: CANARY }) }), list: [`x${CANARY}y`] };
  const out = JSON.stringify(r.redact(value).value);
  assert.ok(!out.includes('Gh0st'), out);
  for (const enc of Object.values(ENCODINGS)) assert.ok(!out.includes(enc));
});

test('object keys containing a secret are redacted; values stay attached', () => {
  const res = r.redact({ [`user:${CANARY}`]: 1, plain: 2 });
  assert.deepEqual(res.value, { 'user:[REDACTED:secret]': 1, plain: 2 });
  assert.deepEqual(res.kinds, ['secret']);
});

test('numbers pass through unless a configured secret is that number', () => {
  const n = new Redactor({ secrets: ['12345678'] });
  assert.deepEqual(n.redact({ a: 12345678, b: 1234567, c: true, d: null, e: [1.5] }).value, {
    a: '[REDACTED:secret]',
    b: 1234567,
    c: true,
    d: null,
    e: [1.5],
  });
  assert.deepEqual(r.redact({ a: 12345678 }).value, { a: 12345678 });
});

test('withSecrets adds per-call secrets without changing the original', () => {
  const extra = r.withSecrets(['per-call-credential-xyz']);
  assert.equal(extra.redactString('per-call-credential-xyz').text, '[REDACTED:secret]');
  assert.equal(extra.redactString(CANARY).text, '[REDACTED:secret]');
  assert.equal(r.redactString('per-call-credential-xyz').text, 'per-call-credential-xyz');
});

const FORMATS: Array<[string, string, string]> = [
  [
    'jwt',
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    'dozjg',
  ],
  ['aws-access-key', 'AKIAIOSFODNN7EXAMPLE', 'IOSFODNN'],
  ['aws-access-key', 'ASIAY34FZKBOKMUTVV7A', 'Y34FZ'],
  ['aws-secret-key', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalr'],
  ['github-token', 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8', 'A1b2C3'],
  ['github-token', `gho_${'Z'.repeat(36)}`, 'ZZZZZZ'],
  ['github-token', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', '11ABCDEFG'],
  ['slack-token', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp', '123456789012'],
  ['stripe-key', 'sk_live_' + '4eC39HqLyjWDarjtT1zdp7dc', '4eC39'],
  ['stripe-key', 'rk_live_' + '51H8xYzAbCdEfGhIj', '51H8x'],
  ['google-api-key', 'AIzaSyD-1234567890abcdefghijklmnopqrstu', 'SyD-1234'],
  ['openai-key', 'sk-proj-abcdefghijklmnopqrstuvwxyz012345', 'abcdefghij'],
  ['private-key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----', 'MIIEow'],
  [
    'private-key',
    '-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXk\\n-----END OPENSSH PRIVATE KEY-----',
    'b3Blbn',
  ],
  ['bearer-token', 'Authorization: Bearer opaque-token-value', 'opaque'],
  ['bearer-token', 'curl -H "Bearer 9f8e7d6c5b4a39281706"', '9f8e7d'],
  ['basic-auth', 'Basic dXNlcjpodW50ZXIy', 'dXNlcjpo'],
  ['url-password', 'postgres://app:s3cr%40t@db.internal:5432/prod', 's3cr'],
  ['url-password', 'redis://:hunter22@cache:6379', 'hunter22'],
  ['key-value', 'https://x.example/cb?code=1&password=hunter22&next=/', 'hunter22'],
  ['key-value', 'DB_PASSWORD="correct horse battery"', 'horse'],
  ['key-value', '{"client_secret": "abc-123-def"}', 'abc-123'],
  ['key-value', 'api-key: zzzTopSecretValue', 'zzzTop'],
];

for (const [kind, sample, fragment] of FORMATS) {
  test(`well-known format ${kind}: ${sample.slice(0, 24)}...`, () => {
    const plain = new Redactor({});
    const { text, count } = plain.redactString(`log: ${sample} (end)`);
    assert.ok(!text.includes(fragment), text);
    assert.ok(text.includes(`[REDACTED:${kind}]`), text);
    assert.ok(text.startsWith('log: ') && text.endsWith(' (end)'), text);
    assert.ok(count >= 1);
  });
}

test('url passwords: scheme, user and host are kept', () => {
  const { text } = new Redactor({}).redactString('mongodb+srv://admin:Pa55word@cluster0.example.net/db');
  assert.equal(text, 'mongodb+srv://admin:[REDACTED:url-password]@cluster0.example.net/db');
});

test('near misses are left alone', () => {
  const plain = new Redactor({});
  for (const s of [
    'Please enter your password to continue.',
    'password reset link sent',
    'the secret of success',
    'use sk-1 or sk-learn',
    'Bearer authentication is described in RFC 6750',
    'Basic setup steps',
    'AKIA123',
    'tokens: 1500, maxTokens=20',
    'https://example.com/path?q=1&page=2',
    'mailto:user@example.com and user:name@host',
    'eyJhbGciOi without dots',
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    'ghp_short',
  ]) {
    const res = plain.redactString(s);
    assert.deepEqual(res, { text: s, count: 0 }, s);
  }
});

test('fields: default list and custom names, case and -/_ insensitive', () => {
  const res = new Redactor({ fields: ['email'] }).redact({
    Password: 'x',
    API_KEY: 'y',
    'X-Api-Key': 'z',
    Authorization: 'Bearer q',
    EMAIL: 'a@b.c',
    nested: { ssn: '123-45-6789', tokenCount: 3, maxTokens: 4 },
    empty: { password: null },
  });
  assert.deepEqual(res.value, {
    Password: '[REDACTED:field]',
    API_KEY: '[REDACTED:field]',
    'X-Api-Key': '[REDACTED:field]',
    Authorization: '[REDACTED:field]',
    EMAIL: '[REDACTED:field]',
    nested: { ssn: '[REDACTED:field]', tokenCount: 3, maxTokens: 4 },
    empty: { password: null },
  });
  assert.equal(res.count, 6);
  assert.deepEqual(new Redactor({ defaultFields: false }).redact({ password: 'p' }).value, { password: 'p' });
});

test('paths: dotted, [*], $.. recursion, bracketed names and indices', () => {
  const p = new Redactor({
    defaultFields: false,
    paths: ['$.arguments.email', '$.items[*].card', '$..ssn', "$['odd key']", '$.list[1]', '$..deep.*'],
  });
  const res = p.redact({
    arguments: { email: 'a@b.c', name: 'n' },
    email: 'kept',
    items: [
      { card: '4111', id: 1 },
      { card: '5500', id: 2 },
    ],
    a: { b: [{ ssn: 'x' }, { c: { ssn: { any: 'thing' } } }] },
    ssn: 'top',
    'odd key': 1,
    list: ['a', 'b', 'c'],
    x: { deep: { k1: 1, k2: [2] } },
  });
  assert.deepEqual(res.value, {
    arguments: { email: '[REDACTED:path]', name: 'n' },
    email: 'kept',
    items: [
      { card: '[REDACTED:path]', id: 1 },
      { card: '[REDACTED:path]', id: 2 },
    ],
    a: { b: [{ ssn: '[REDACTED:path]' }, { c: { ssn: '[REDACTED:path]' } }] },
    ssn: '[REDACTED:path]',
    'odd key': '[REDACTED:path]',
    list: ['a', '[REDACTED:path]', 'c'],
    x: { deep: { k1: '[REDACTED:path]', k2: '[REDACTED:path]' } },
  });
  assert.deepEqual(res.kinds, ['path']);
});

test('invalid paths throw at construction naming the path', () => {
  for (const bad of ['arguments.email', '$.a[', '$.a[x]', '$..', '$.a..', '$x', '$.a[]']) {
    assert.throws(
      () => new Redactor({ paths: [bad] }),
      (e: Error) => e.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test('the input is not mutated and a new structure is returned', () => {
  const input = { password: 'p', s: `has ${CANARY}`, arr: [{ token: 't' }], [CANARY]: 1 };
  const before = structuredClone(input);
  const res = r.redact(input);
  assert.deepEqual(input, before);
  assert.notEqual(res.value, input);
  assert.notEqual((res.value as { arr: unknown[] }).arr, input.arr);
});

test('depth and node limits withhold the subtree', () => {
  const lim = new Redactor({ maxDepth: 3, maxNodes: 10 });
  const deep = lim.redact({ a: { b: { c: { d: 'secret stuff' } } } });
  assert.deepEqual(deep.value, { a: { b: { c: '[WITHHELD: depth-limit exceeded]' } } });
  assert.equal(deep.withheld, true);
  const wide = lim.redact(Array.from({ length: 20 }, (_, i) => `v${i}`));
  const arr = wide.value as string[];
  assert.deepEqual(arr.slice(8), ['v8', '[WITHHELD: node-limit exceeded]'], 'one marker for the rest');
  assert.equal(arr.length, 10);
  assert.equal(wide.withheld, true);
  const cyclic: Record<string, unknown> = { k: CANARY };
  cyclic.self = cyclic;
  const cyc = r.redact(cyclic);
  assert.equal(cyc.withheld, true);
  assert.ok(!JSON.stringify(cyc.value).includes('Gh0st'));
});

test('past the node limit the rest of a container is one marker and the walk stops, never one marker per node', () => {
  // The attacker walk's arguments: two million zeros (4 MB of JSON), with the default limit.
  const zeros = new Array(2_000_000).fill(0);
  let touched = 0;
  const counted = new Proxy(zeros, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && /^\d+$/.test(prop)) touched++;
      return Reflect.get(target, prop, receiver);
    },
  });
  const res = new Redactor().redact({ a: counted });
  const a = (res.value as { a: unknown[] }).a;
  assert.equal(a.filter((x) => x === '[WITHHELD: node-limit exceeded]').length, 1);
  assert.equal(a.at(-1), '[WITHHELD: node-limit exceeded]');
  assert.ok(a.length <= 100_000, `${a.length} items kept`);
  assert.ok(touched <= 100_000, `the walk read ${touched} items past the limit`);
  assert.ok(JSON.stringify(res.value).length < 300_000, 'about the size of what was kept');
  assert.equal(res.withheld, true);
  assert.deepEqual(res.kinds, ['node-limit']);
});

test('objects past the node limit keep one marker member; each enclosing container adds at most one', () => {
  const lim = new Redactor({ maxNodes: 5 });
  const wide = lim.redact(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])));
  assert.deepEqual(wide.value, { k0: 0, k1: 1, k2: 2, k3: 3, '[WITHHELD]': '[WITHHELD: node-limit exceeded]' });
  // The marker key cannot hide a member of the same name: the usual `#n` suffix keeps both.
  const named = lim.redact({ '[WITHHELD]': 1, a: 2, b: 3, c: 4, d: 5, e: 6 });
  assert.deepEqual(Object.keys(named.value as object), ['[WITHHELD]', 'a', 'b', 'c', '[WITHHELD]#2']);
  const nested = lim.redact({ x: { y: [1, 2, 3, 4, 5, 6] }, z: [7, 8, 9] });
  assert.deepEqual(nested.value, {
    x: { y: [1, 2, '[WITHHELD: node-limit exceeded]'] },
    '[WITHHELD]': '[WITHHELD: node-limit exceeded]',
  });
  const markers = JSON.stringify(new Redactor({ maxNodes: 100 }).redact(deepWide(20, 50)).value).match(
    /node-limit exceeded/g,
  );
  assert.ok(markers && markers.length <= 21, `${markers?.length} markers`);
});

/** `depth` nested arrays, each holding `width` numbers and then the next array. */
function deepWide(depth: number, width: number): unknown[] {
  let v: unknown[] = [];
  for (let d = 0; d < depth; d++) v = [...new Array(width).fill(d), v];
  return v;
}

test('a failure inside redaction withholds the whole value, never passing it through', () => {
  const getter = {
    ok: CANARY,
    get boom(): string {
      throw new Error(CANARY);
    },
  };
  assert.deepEqual(r.redact(getter), { value: WITHHELD, count: 0, withheld: true, kinds: ['error'] });
  const proxy = new Proxy(
    { s: CANARY },
    {
      ownKeys() {
        throw new Error('no');
      },
    },
  );
  assert.equal(r.redact({ wrapper: proxy }).value, WITHHELD);
  const evil = {
    toString(): string {
      throw new Error('x');
    },
  } as unknown as string;
  assert.deepEqual(r.redactString(evil), { text: WITHHELD, count: 0 });
  const badJson = {
    toJSON(): never {
      throw new Error(CANARY);
    },
  };
  assert.equal(r.redact([CANARY, badJson]).value, WITHHELD);
});

test('long strings are cut, marked, and a secret straddling the cut does not leak', () => {
  const t = new Redactor({ secrets: ['straddling-secret-value'], maxStringLength: 30 });
  const { text } = t.redactString('0123456789 abcdefghi straddling-secret-value and more');
  assert.ok(!text.includes('straddl'), text);
  assert.ok(text.startsWith('0123456789 abcdefghi '), text);
  assert.ok(text.endsWith('[TRUNCATED: 53 chars]'), text);
});

test('pathological inputs complete with correct results', () => {
  const plain = new Redactor({ secrets: ['canary-123456'] });
  // Compared with assert.ok so a failure does not print 200 KB.
  const same = (s: string) => assert.ok(plain.redactString(s).text === s, `changed: ${s.slice(0, 40)}...`);
  same('a'.repeat(200_000));
  same('eyJ'.repeat(50_000));
  same(':'.repeat(100_000) + '@'.repeat(100_000));
  same('x://u:p'.repeat(30_000));
  same('-----BEGIN '.repeat(20_000));
  same('Bearer '.repeat(30_000));
  same('canary-12345'.repeat(20_000));
  same('ghp_'.repeat(50_000));
  same('\\'.repeat(100_000) + '"'.repeat(100_000));
  // The password runs over its 512-character bound to the next @; the rest is the "host".
  const flood = plain.redactString(`a://b:${'@'.repeat(100_000)}`);
  assert.equal(flood.count, 1);
  assert.ok(flood.text === `a://b:[REDACTED:url-password]@${'@'.repeat(100_000 - 513)}`, flood.text.slice(0, 60));
  assert.equal(plain.redactString('-----BEGIN RSA PRIVATE KEY-----'.repeat(10_000)).text, '[REDACTED:private-key]');
  const jwts = plain.redactString('eyJaaaaaaaaaaaa.bb.cc '.repeat(10_000));
  assert.equal(jwts.count, 10_000);
  assert.ok(!jwts.text.includes('eyJ'));
  const canaries = plain.redactString('canary-123456 '.repeat(20_000));
  assert.equal(canaries.count, 20_000);
  assert.equal(canaries.text, '[REDACTED:secret] '.repeat(20_000));
});

test('a record keeps no form the finder reads through: escapes of any mix, look-alike letters, UTF-16', () => {
  const value = 'canary-rec-9Zt81Wd4Lm';
  const red = new Redactor({ secrets: [value] });
  const wide = (s: string) => [...s].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('');
  const forms = [
    value.replace(/-/g, '%2D'),
    value.replace(/c/g, '\\u0063'),
    [...Buffer.from(value)].map((b) => `\\x${b.toString(16)}`).join(''),
    value.replace(/a/g, '&#97;'),
    wide(value),
    `${value.slice(0, 6)}\u200b${value.slice(6)}`,
    Buffer.from(value, 'utf16le').toString('hex'),
    Buffer.from(value, 'utf16le').swap16().toString('hex'),
  ];
  for (const form of forms) {
    const out = red.redact({ result: `said ${form}.`, [`key ${form}`]: 1 });
    assert.deepEqual(out.value, { result: 'said [REDACTED:secret].', 'key [REDACTED:secret]': 1 }, form);
    assert.deepEqual(out.kinds, ['secret']);
  }
  // A well-known format escaped: its kind, cut from the original text.
  const token = `ghp_${'Q7x2Lm9Kp4'.repeat(3)}Zt81Wd`;
  const pct = [...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
  const out = new Redactor().redact({ note: `see ${pct} and ${wide('AKIAIOSFODNN7EXAMPLE')}` });
  // Two in one text: one marker from the first to the end of the last (what lies between goes too).
  assert.deepEqual(out.value, { note: 'see [REDACTED:secret]' });
  assert.deepEqual(out.kinds, ['aws-access-key', 'github-token']);
  assert.equal(new Redactor().redactString(`x ${pct} y`).text, 'x [REDACTED:github-token] y');
});
