import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretMatcher, WELL_KNOWN, redactWellKnown } from './secret-patterns.ts';

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

test('one matcher per set of values: the same values in any order share it, other values do not', () => {
  const a = SecretMatcher.of(['first-secret-value', 'second-secret-value']);
  assert.equal(SecretMatcher.of(['second-secret-value', 'first-secret-value', 'first-secret-value']), a);
  assert.notEqual(SecretMatcher.of(['first-secret-value']), a);
  assert.notEqual(SecretMatcher.of(['first-secret-value', 'second-secret-value', 'third-secret-value']), a);
});

/** Every [start, end) where an encoding of `secret` occurs in `s`, found by indexOf (hex and percent forms in any case). */
function occurrences(s: string, secret: string): Array<[number, number]> {
  const bytes = Buffer.from(secret);
  const exact = [secret, JSON.stringify(secret).slice(1, -1), bytes.toString('base64'), bytes.toString('base64url')];
  const caseless = [bytes.toString('hex'), encodeURIComponent(secret)];
  const found: Array<[number, number]> = [];
  const all = (hay: string, needle: string) => {
    for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) found.push([i, i + needle.length]);
  };
  for (const n of exact) all(s, n);
  for (const n of caseless) all(s.toLowerCase(), n.toLowerCase());
  return found;
}

/**
 * 400 generated texts, each with encodings of the values among filler (non-ASCII letters included):
 * every occurrence is covered. With few values a text is first searched natively for every needle,
 * and only one that holds one is scanned; with many the scan alone: both are run.
 */
function everyEncodingCovered(secrets: string[]): void {
  const m = SecretMatcher.of(secrets);
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const filler = 'aZ09%+/=-_ xyz\u00e9\u4e2d';
  const encodings = (secret: string) => {
    const bytes = Buffer.from(secret);
    return [
      secret,
      bytes.toString('base64'),
      bytes.toString('base64url'),
      bytes.toString('hex').toUpperCase(),
      encodeURIComponent(secret).toLowerCase(),
      JSON.stringify(secret).slice(1, -1),
    ];
  };
  for (let round = 0; round < 400; round++) {
    let s = '';
    while (s.length < 300 + rand(600)) {
      if (rand(8) === 0) {
        const e = encodings(secrets[rand(secrets.length)]);
        s += e[rand(e.length)];
      } else s += filler[rand(filler.length)];
    }
    const spans = m.find(s);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i - 1][1] < spans[i][0], 'sorted, merged spans');
    for (const secret of secrets)
      for (const [a, b] of occurrences(s, secret))
        assert.ok(
          spans.some(([x, y]) => x <= a && b <= y),
          `round ${round}: [${a}, ${b}) of an encoding is covered`,
        );
    assert.deepEqual(m.find(s), spans, 'the same text again: the same spans');
  }
  // Each encoding alone in a text: nothing else in it may make the text worth a scan.
  for (const secret of secrets)
    for (const e of encodings(secret)) {
      const s = `${filler}${e}${filler}`;
      assert.deepEqual(
        occurrences(s, secret).filter(([a, b]) => !m.find(s).some(([x, y]) => x <= a && b <= y)),
        [],
        `${JSON.stringify(e)} alone is covered`,
      );
    }
}

test('every encoding of every value is covered, in any case where case does not matter: the native search first', () => {
  everyEncodingCovered(['TOKEN-abcdef-0123']);
  everyEncodingCovered(['p@ss/word+ünïcode-1']);
});

test('every encoding of every value is covered, in any case where case does not matter: both automata in one pass', () => {
  everyEncodingCovered(['p@ss/word+ünïcode-1', 'TOKEN-abcdef-0123', 'short1', 'canary-4f2a-9e1b', 'another/value+1']);
});

test('a letter outside ASCII that lowers to an ASCII one is found only as the look-alike it is', () => {
  const m = SecretMatcher.of(['key-value-42']);
  // U+212A KELVIN SIGN lowers to "k" and is "K" under NFKC: the value with its first letter in upper
  // case (a hit, as the value in any case is: its caseless needle), found in the decoded view.
  assert.deepEqual(m.find('\u212Aey-value-42'), [[0, 12]]);
  // U+0130 lowers to "i" and a combining dot, and stays under NFKC: "ey-value-42" after it is not the value.
  assert.deepEqual(m.find('\u0130ey-value-42'), []);
  assert.deepEqual(m.find('key-value-42'), [[0, 12]], 'a text as long as the value itself');
  assert.deepEqual(m.find('ey-value-42'), [], 'shorter than any needle');
  assert.deepEqual(m.find('\u0130 key-value-42 \u0130'), [[2, 14]]);
  assert.deepEqual(
    m.find('\u0130%6B%65%79%2D%76%61%6C%75%65%2D%34%32'),
    [[1, 37]],
    'every byte escaped, upper case, after a letter that lowers to two',
  );
});

test('a long text scanned again is found as the first time; one that differs from it is scanned for itself', () => {
  const m = SecretMatcher.of(['canary-value-9f8e7d']);
  const plain = `3:17:${'x'.repeat(1019)}`;
  const withSecret = `${plain.slice(0, -20)} canary-value-9f8e7d`;
  assert.deepEqual(m.find(plain), []);
  assert.deepEqual(m.find(plain), []);
  assert.equal(withSecret.length, plain.length);
  assert.deepEqual(m.find(withSecret), [[withSecret.length - 19, withSecret.length]]);
  assert.deepEqual(m.find(`${'3:17:'}${'x'.repeat(1019)}`), [], 'another string with the first content');
  assert.deepEqual(m.find(withSecret), [[withSecret.length - 19, withSecret.length]]);
  // Another matcher has a memo of its own: it never answers with this one's finds.
  assert.deepEqual(SecretMatcher.of(['other-value-123456']).find(withSecret), []);
});
