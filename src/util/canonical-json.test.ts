import { test } from 'node:test';
import assert from 'node:assert/strict';
import canonicalize from 'canonicalize';
import { canonicalJson } from './canonical-json.ts';

/** What the reference gives: its text, or the message it throws. */
function reference(v: unknown): string {
  try {
    return canonicalize(v) ?? 'null';
  } catch (err) {
    return `throws: ${(err as Error).message}`;
  }
}

function ours(v: unknown): string {
  try {
    return canonicalJson(v);
  } catch (err) {
    return `throws: ${(err as Error).message}`;
  }
}

/** A small deterministic generator (mulberry32), so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  'a',
  'b',
  'B',
  '',
  'z',
  'é',
  'e\u0301',
  '😀',
  '\uffff',
  '\ud800',
  '10',
  '2',
  '01',
  '__proto__',
  'toJSON',
  'k k',
  '"',
];
const STRINGS = [
  '',
  'x',
  'line\nbreak',
  '\u0000\u001f\u007f',
  '"\\/',
  '😀',
  '\ud83d',
  '\ude00x',
  'a\u2028b',
  'ﬁ',
  'x'.repeat(300),
];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.1 + 0.2,
  1e21,
  1e-7,
  5e-324,
  -1.7976931348623157e308,
  2 ** 53 + 2,
  Number.NaN,
  Infinity,
];

function value(r: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const roll = r();
  if (depth > 4 || roll < 0.45) {
    const kind = Math.floor(r() * 8);
    if (kind === 0) return pick(NUMBERS);
    if (kind === 1) return pick([true, false, null]);
    if (kind === 2) return pick([undefined, () => 1, Symbol('s')]);
    if (kind === 3 && r() < 0.1) return 1n;
    return pick(STRINGS);
  }
  if (roll < 0.65) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  if (roll < 0.7 && r() < 0.3) return pick([new Date(0), new String('boxed'), { toJSON: () => 'j' }, new Map()]);
  const o: Record<string, unknown> = roll < 0.72 ? Object.create(null) : {};
  for (let i = Math.floor(r() * 5); i > 0; i--)
    Object.defineProperty(o, pick(KEYS), {
      value: value(r, depth + 1),
      enumerable: true,
      configurable: true,
      writable: true,
    });
  return o;
}

test('canonicalJson gives exactly what canonicalize gives (text or refusal) on 20,000 generated values', () => {
  for (let seed = 1; seed <= 20_000; seed++) {
    const v = value(rng(seed), 0);
    assert.equal(ours(v), reference(v), `seed ${seed}`);
  }
});

test('canonicalJson: the cases the fast path hands to the reference, and an audit-like record it takes', () => {
  const cases: unknown[] = [
    { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } }, // unsorted at every level
    { 10: 'a', 2: 'b', x: 1 }, // array-index keys
    JSON.parse('{"__proto__": {"a": 1}, "b": 2}'), // an own __proto__ key
    { a: '\ud800' }, // a lone surrogate
    { '\udc00': 1 },
    { a: Number.NaN },
    { a: [Infinity] },
    { a: 1n },
    { a: new Date(0) },
    { a: { toJSON: () => undefined } },
    [undefined, () => 1, Symbol('s')],
    { a: undefined, b: () => 1 },
    undefined,
  ];
  for (const c of cases) assert.equal(ours(c), reference(c));
  let deep: unknown = 'leaf';
  for (let i = 0; i < 5_000; i++) deep = { k: [deep] }; // past the fast path's depth: the reference, iterative
  assert.equal(ours(deep), reference(deep));
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.match(ours(cyclic), /^throws: Circular/);
  const record = { kind: 'call.intent', args: { text: 'x'.repeat(1024) }, actor: { tenant: 't', subject: 's' } };
  assert.equal(ours(record), reference(record));
});

test('canonicalJson leaves its input alone', () => {
  const v = { b: [{ d: 1, c: 2 }], a: 1 };
  const before = JSON.stringify(v);
  canonicalJson(v);
  assert.equal(JSON.stringify(v), before);
  assert.deepEqual(Object.keys(v), ['b', 'a']);
});

test('canonicalJson orders keys by UTF-16 code units, with few keys and with many, as the reference does', () => {
  // Code-unit order differs from code-point and locale order: U+FF61 (one unit) sorts after U+1F600
  // (the surrogates D83D DE00), upper case before lower case, and a prefix before what extends it.
  const awkward = ['\uff61', '\u{1f600}', 'é', 'Z', 'a', 'ab', 'a_', 'A', '', ' ', '~', 'zz'];
  for (const n of [2, 5, 12, 32, 33, 80]) {
    const keys = Array.from({ length: n }, (_, i) => (i < awkward.length ? awkward[i] : `k${(n - i) * 7919}`));
    for (const order of [keys, [...keys].reverse()]) {
      const o = Object.fromEntries(order.map((k, i) => [k, { [`z${i}`]: i, [`a${i}`]: [i] }]));
      assert.equal(ours(o), reference(o), `${n} keys`);
    }
  }
});
