import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileGlob, globMatches, globRegExp, linearGlobTest } from './glob.ts';
import { withLoopDelay } from '../../test/support/loop-delay.ts';

/** A glob character as the reference regex writes it: `*` any run, `?` one character, the rest literal. */
function referencePart(c: string): string {
  if (c === '*') return '[^]*';
  if (c === '?') return '[^]';
  return c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

test('globs match as the equivalent anchored regex does', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a*b', 'ab', true],
    ['a*b', 'axxb', true],
    ['a*b', 'axxbc', false],
    ['*', '', true],
    ['?', '😀', true],
    ['??', '😀', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['*a*a*', 'aa', true],
    ['*a*a*', 'a', false],
    ['x*y*z', 'xzyz', true],
    ['x*y*z', 'xzzy', false],
    ['a*ab', 'aab', true],
    ['ab*ba', 'aba', false],
    ['', '', true],
    ['repo:*/*', 'repo:a/b', true],
    ['repo:*/*', 'repo:ab', false],
    ['a.b', 'axb', false],
    ['a+', 'aa', false],
  ];
  for (const [g, v, want] of cases) {
    assert.equal(linearGlobTest(g, v), want, `${g} ~ ${v}`);
    const body = [...g].map(referencePart).join('');
    assert.equal(new RegExp(`^${body}$`, 'u').test(v), want, `reference regex for ${g} ~ ${v}`);
    assert.equal(globRegExp(g).test(v), want);
  }
  assert.ok(globRegExp('Acme-*', true).test('acme-X'));
  assert.ok(!globRegExp('Acme-*').test('acme-X'));
  assert.ok(globMatches(compileGlob('github__*'), 'github__create_issue'));
});

test('many stars against a long hostile value stay linear (V8 would backtrack polynomially)', async () => {
  const re = globRegExp('*a*a*a*a*a*a*a*a*b');
  const hostile = 'a'.repeat(200_000);
  const { value, maxDelayMs } = await withLoopDelay(() => [
    re.test(hostile),
    re.test(`${hostile}b`),
    globRegExp('*?a?a?a?b').test(hostile),
  ]);
  assert.deepEqual(value, [false, true, false]);
  assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);
});
