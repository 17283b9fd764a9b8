import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REGEXP_LIMITS, RegExpBudgetError, linearRegExp } from './regexp.ts';
import { withLoopDelay } from '../../test/support/loop-delay.ts';

test('JavaScript-syntax patterns as JSON Schema writes them keep their meaning', () => {
  assert.ok(linearRegExp('^[a-z]+$').test('abc'));
  assert.ok(!linearRegExp('^[a-z]+$').test('abc1'));
  assert.ok(linearRegExp('^\\p{L}+$', 'u').test('héllo'));
  assert.ok(linearRegExp('^.$', 'u').test('😀'), 'code points, not UTF-16 halves');
  assert.ok(linearRegExp('^(?<y>\\d{4})-\\d{2}$').test('2026-12'));
  assert.ok(linearRegExp('a/b').test('xa/by'), 'unanchored: found anywhere, like RegExp.test');
  assert.ok(linearRegExp('^abc$', 'i').test('ABC'));
});

test('patterns that need backtracking do not compile (the caller fails closed)', () => {
  assert.throws(() => linearRegExp('(?=a)a'), /unsupported Perl syntax/);
  assert.throws(() => linearRegExp('(a)\\1'), /escape/);
  assert.throws(() => linearRegExp('a'.repeat(REGEXP_LIMITS.patternChars + 1)), /longer than/);
  assert.throws(
    () => linearRegExp('[a-z]{1000}[a-z]{1000}[a-z]{1000}[a-z]{1000}[a-z]{1000}[a-z]{1000}'),
    /too complex/,
  );
  assert.throws(() => linearRegExp('a', 'y'), /unsupported regular expression flag/);
});

test('the catastrophic pattern from the report runs in linear time', async () => {
  const re = linearRegExp('^(\\w+\\s?)*$', 'u');
  // A backtracking engine needs about 2.5 s at 29 characters and doubles per character: 60 would be years.
  const { value, maxDelayMs } = await withLoopDelay(() => [
    re.test(`${'a'.repeat(60)}!`),
    re.test(`${'a'.repeat(200_000)}!`),
    re.test('a b c'),
  ]);
  assert.deepEqual(value, [false, false, true]);
  assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);
});

test('an input too long for the pattern within the budget throws instead of guessing', async () => {
  const re = linearRegExp('^(a|b)*a(a|b){200}$');
  const { value, maxDelayMs } = await withLoopDelay(() => {
    try {
      re.test('ab'.repeat(50_000));
      return 'matched or not';
    } catch (err) {
      return err;
    }
  });
  assert.ok(value instanceof RegExpBudgetError, String(value));
  assert.match((value as Error).message, /too long to check against the pattern/);
  assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);
});
