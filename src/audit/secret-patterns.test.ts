import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WELL_KNOWN, redactWellKnown } from './secret-patterns.ts';

/** Every pattern applied, without the one scan that rules texts out: what redactWellKnown must equal. */
function everyPattern(s: string, note: (kind: string) => void, except?: string): string {
  let out = s;
  for (const p of WELL_KNOWN) if (p.kind !== except) out = p.apply(out, note);
  return out;
}

/** One sample per kind at least; a new pattern without one fails the coverage test below. */
const SAMPLES = [
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N',
  'AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A',
  'AWS_Secret_Access_Key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  `ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz`,
  'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp',
  'sk_live_4eC39HqLyjWDarjtT1zdp7dc rk_test_51H8xYzAbCdEfGhIj',
  'AIzaSyD-1234567890abcdefghijklmnopqrstu',
  'sk-proj-abcdefghijklmnopqrstuvwxyz012345',
  '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----',
  'AUTHORIZATION: bEaReR opaque-token-value',
  'curl -H "Bearer 9f8e7d6c5b4a39281706"',
  'basic dXNlcjpodW50ZXIy',
  'postgres://app:s3cr%40t@db.internal:5432/prod',
  'DB_PassPhrase="correct horse battery" Pwd=x1 CREDENTIALS: abc Private-Key=k Access_Key=z Api_Key: q',
  '{"client_secret": "abc-123-def", "Token": "t0k3n-value"}',
];

test('every well-known pattern has a sample it redacts', () => {
  for (const p of WELL_KNOWN) {
    const hit = SAMPLES.some((s) => p.apply(s, () => {}) !== s);
    assert.ok(hit, `no sample for ${p.kind}: add one to SAMPLES`);
  }
});

test('the one scan never changes what the patterns find: samples, in any case', () => {
  for (const base of SAMPLES)
    for (const s of [base, base.toLowerCase(), base.toUpperCase(), `x ${base} y`]) {
      for (const except of [undefined, 'key-value']) {
        const a: string[] = [];
        const b: string[] = [];
        assert.equal(
          redactWellKnown(s, (k) => a.push(k), except),
          everyPattern(s, (k) => b.push(k), except),
          s,
        );
        assert.deepEqual(a, b, s);
      }
    }
});

/** One secret alone per text, in every spelling a pattern knows: a pattern whose needs missed one is caught here. */
const ALONE = [
  ...['password', 'passwd', 'pwd', 'passphrase', 'secret', 'token', 'credential', 'credentials'].map(
    (k) => `${k}=v4lue`,
  ),
  ...['api', 'private', 'access'].flatMap((w) => [`${w}key`, `${w}_key`, `${w}-key`].map((k) => `${k}: v4lue`)),
  ...['p', 'o', 'u', 's', 'r'].map((c) => `gh${c}_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8`),
  'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
  ...['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_'].map((p) => `${p}4eC39HqLyjWDarjtT1zdp7dc`),
  'AKIAIOSFODNN7EXAMPLE',
  'ASIAY34FZKBOKMUTVV7A',
  'secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'xoxp-123456789012-1234567890123',
  'AIzaSyD-1234567890abcdefghijklmnopqrstu',
  'sk-proj-abcdefghijklmnopqrstuvwxyz012345',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N',
  'https://app:s3cr3t@db.internal/prod',
  'Authorization: Bearer opaque-token-value',
  'Basic dXNlcjpodW50ZXIy',
  '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----',
];

test('each secret alone, in any case, is found as every pattern applied finds it', () => {
  for (const base of ALONE)
    for (const s of [base, base.toLowerCase(), base.toUpperCase()]) {
      const want = everyPattern(s, () => {});
      assert.equal(
        redactWellKnown(s, () => {}),
        want,
        s,
      );
      if (s === base) assert.notEqual(want, s, `${s}: no pattern takes it`);
    }
});

test('the one scan never changes what the patterns find: generated texts', () => {
  // Texts made of pieces of every pattern, so near misses and overlaps come up; a fixed seed.
  const pieces = [
    'eyJ',
    'eyJhbGciOi',
    '.',
    '://',
    'user',
    ':',
    '@',
    'AKIA',
    'ASIA',
    'IOSFODNN7EXAMPLE',
    'secret',
    '_access_key',
    '=',
    ' ',
    '"',
    "'",
    'ghp_',
    'github_pat_',
    'xoxb-',
    'sk_live_',
    'rk_test_',
    'AIza',
    'sk-',
    'Bearer ',
    'basic ',
    'password',
    'Pwd',
    'token',
    'api-key',
    'private_key',
    'Credentials',
    '-----BEGIN ',
    'PRIVATE KEY-----',
    '-----END ',
    'x'.repeat(20),
    'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6',
    'dXNlcjpodW50ZXIy',
    '\n',
    'k_',
    'IA',
    'xox',
  ];
  let seed = 42;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  let changed = 0;
  for (let i = 0; i < 3000; i++) {
    let s = '';
    for (let n = 1 + (next() % 12); n > 0; n--) s += pieces[next() % pieces.length];
    const want = everyPattern(s, () => {});
    assert.equal(
      redactWellKnown(s, () => {}),
      want,
      JSON.stringify(s),
    );
    if (want !== s) changed++;
  }
  assert.ok(changed > 300, `only ${changed} generated texts held a secret format`);
});

test('a text with nothing like a secret format is returned as it is', () => {
  const plain = `3:17:${'x'.repeat(1019)}`;
  assert.equal(
    redactWellKnown(plain, () => assert.fail('nothing to note')),
    plain,
  );
});

test('a long text scanned again is redacted as the first time; one that differs from it is scanned for itself', () => {
  const plain = `3:17:${'x'.repeat(1019)}`;
  const secret = SAMPLES[3]; // github tokens
  // The same text twice (a call's arguments: checked, then recorded), another object with the same
  // content, then texts of the same length that differ from the first only where a secret now is.
  const texts = [
    plain,
    plain,
    `${'3:17:'}${'x'.repeat(1019)}`,
    `${plain.slice(0, -secret.length - 1)} ${secret}`,
    `${secret} ${plain.slice(secret.length + 1)}`,
  ];
  for (let round = 0; round < 2; round++)
    for (const s of texts) {
      const kinds: string[] = [];
      const expected: string[] = [];
      assert.equal(
        redactWellKnown(s, (k) => kinds.push(k)),
        everyPattern(s, (k) => expected.push(k)),
      );
      assert.deepEqual(kinds, expected);
    }
  assert.notEqual(
    redactWellKnown(texts[3], () => {}),
    texts[3],
    'the appended token is redacted',
  );
});

test('the needs fit the scan: at most 30 patterns (a bit each), every one with needs that are not empty', () => {
  assert.ok(WELL_KNOWN.length <= 30);
  for (const p of WELL_KNOWN) {
    assert.ok(p.needs.length > 0, p.kind);
    for (const n of p.needs) assert.ok(n.length > 0, p.kind);
  }
});
