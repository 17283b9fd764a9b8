import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exactNumber, inexactIn, inexactNumberIn, parseUpstreamJson } from './exact-numbers.ts';

test('literals JSON.parse reads as the decimal they write are exact; the others are not', () => {
  for (const s of [
    '0',
    '-0',
    '0.0',
    '1',
    '1.0',
    '1e3',
    '1E+3',
    '0.1',
    '-12.5',
    '9007199254740991',
    '123456789012345',
    '1.5e300',
    '5e-324',
    '0.30000000000000004',
    '12345678901234567000',
    '1.7976931348623157e308',
    '100000000000000000000',
  ])
    assert.equal(exactNumber(s), true, s);
  for (const s of [
    '9007199254740993',
    '12345678901234567890',
    '-9223372036854775807',
    '0.10000000000000000001',
    '1e400',
    '-1e400',
    '1e-400',
    '1.23456789012345e-320',
    '3.141592653589793238',
  ])
    assert.equal(exactNumber(s), false, s);
});

test('agrees with a round trip through JSON on generated literals', () => {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 20_000; i++) {
    const digits = Array.from({ length: 1 + rnd(22) }, (_, j) => String(j === 0 ? 1 + rnd(9) : rnd(10))).join('');
    const dot = rnd(3) === 0 ? rnd(digits.length) : 0;
    let s = dot ? `${digits.slice(0, dot)}.${digits.slice(dot)}` : digits;
    if (rnd(4) === 0) s += `e${rnd(2) ? '-' : ''}${rnd(330)}`;
    if (rnd(2)) s = `-${s}`;
    // Exact means: the value read, written by JSON.stringify and read again as a decimal by BigInt-free
    // arithmetic, names the same decimal. Compare with a literal built from the float's own digits.
    const written = JSON.stringify(JSON.parse(s));
    const same = written !== 'null' && sameDecimal(s, written);
    assert.equal(exactNumber(s), same, `${s} -> ${written}`);
  }
});

/** Two decimal literals are the same number (string arithmetic: digits and exponent). */
function sameDecimal(a: string, b: string): boolean {
  const norm = (x: string) => {
    const neg = x.startsWith('-');
    const [m, e = '0'] = (neg ? x.slice(1) : x).toLowerCase().split('e');
    const [i, f = ''] = m.split('.');
    let d = i + f;
    let exp = Number(e) + i.length;
    const lead = d.length - d.replace(/^0+/, '').length;
    d = d.slice(lead);
    exp -= lead;
    d = d.replace(/0+$/, '');
    return d ? `${neg ? '-' : ''}${d}@${exp}` : '0';
  };
  return norm(a) === norm(b);
}

test('inexactNumberIn finds a long number anywhere, and not digits in strings', () => {
  assert.equal(inexactNumberIn('{"a":1,"b":[2,3.5]}'), undefined);
  assert.equal(inexactNumberIn('{"text":"12345678901234567890 and 1e999"}'), undefined);
  assert.equal(inexactNumberIn('{"a":{"b":[1, 12345678901234567890]}}'), '12345678901234567890');
  assert.equal(inexactNumberIn('{"n":1e400}'), '1e400');
  assert.equal(inexactNumberIn('{"n":9007199254740991}'), undefined);
});

test('parseUpstreamJson remembers the altered literal of the message', () => {
  const m = parseUpstreamJson('{"jsonrpc":"2.0","id":1,"result":{"id":9007199254740993}}');
  assert.equal(inexactIn(m), '9007199254740993');
  assert.equal(inexactIn(parseUpstreamJson('{"jsonrpc":"2.0","id":1,"result":{"id":9007199254740991}}')), undefined);
  assert.equal(inexactIn(parseUpstreamJson('7')), undefined);
});
