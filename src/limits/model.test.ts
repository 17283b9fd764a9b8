import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp } from './model.ts';

test('tool globs: `*` and `?` only, everything else literal', () => {
  const g = globToRegExp('github__create_*');
  assert.ok(g.test('github__create_issue'));
  assert.ok(g.test('github__create_'));
  assert.ok(!g.test('gitlab__create_issue'));
  assert.ok(!g.test('xgithub__create_issue'));
  assert.ok(globToRegExp('a.b?c').test('a.bxc'));
  assert.ok(!globToRegExp('a.b?c').test('aXbxc'), '`.` is literal');
  assert.ok(globToRegExp('(x)[y]{z}+|^$\\-').test('(x)[y]{z}+|^$\\-'));
  assert.ok(globToRegExp('*').test(''));
});

test('tool globs in limits match without backtracking', async () => {
  const { globToRegExp } = await import('./model.ts');
  const { withLoopDelay } = await import('../../test/support/loop-delay.ts');
  const re = globToRegExp('*a*a*a*a*a*a*a*a*a*a*a*a*b');
  const { value, maxDelayMs } = await withLoopDelay(() => [
    re.test('a'.repeat(400)),
    re.test(`${'a'.repeat(400)}b`),
    globToRegExp('github__*').test('github__x'),
    globToRegExp('a.b').test('axb'),
  ]);
  assert.deepEqual(value, [false, true, true, false]);
  assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);
});
