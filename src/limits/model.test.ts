import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, validateLimits } from './model.ts';

test('a valid limits section has no issues', () => {
  assert.deepEqual(
    validateLimits({
      rules: [
        { id: 'per-user', scope: 'principal', rate: { points: 60, perSeconds: 60, burst: 10 } },
        { id: 'gh-writes', scope: 'principal_tool', tools: ['github__create_*', 'github__merge_?r'], concurrency: 2 },
        { id: 'tenant', scope: 'tenant', rate: { points: 1000, perSeconds: 3600 }, concurrency: 50 },
        { id: 'tool', scope: 'tool', rate: { points: 1, perSeconds: 0.5 } },
      ],
      redis: {
        url: 'redis://127.0.0.1:6379',
        keyPrefix: 'gh:',
        commandTimeoutMs: 200,
        leaseTtlMs: 30000,
        fallbackDivisor: 3,
      },
    }),
    [],
  );
});

test('every problem is reported with its key path, without echoing values', () => {
  const issues = validateLimits(
    {
      rules: [
        { id: 'x', scope: 'user', rate: { points: 0, perSeconds: -1, burst: 1.5, extra: 1 } },
        { id: 'x', scope: 'tool', tools: [], concurrency: 0 },
        { id: 'secret value!', scope: 'tenant' },
        'nope',
      ],
      redis: { url: 'http://secret-host', fallbackDivisor: 0 },
      other: true,
    },
    'limits',
  );
  const paths = issues.map((i) => i.path);
  assert.deepEqual(paths.sort(), [
    'limits.other',
    'limits.redis.fallbackDivisor',
    'limits.redis.url',
    'limits.rules[0].rate.burst',
    'limits.rules[0].rate.extra',
    'limits.rules[0].rate.perSeconds',
    'limits.rules[0].rate.points',
    'limits.rules[0].scope',
    'limits.rules[1].concurrency',
    'limits.rules[1].id',
    'limits.rules[1].tools',
    'limits.rules[2]',
    'limits.rules[2].id',
    'limits.rules[3]',
  ]);
  assert.match(
    issues.find((i) => i.path === 'limits.rules[1].id')!.message,
    /duplicate rule id \(first at rules\[0\]\)/,
  );
  for (const i of issues) assert.doesNotMatch(i.message, /secret/);
  assert.deepEqual(validateLimits(null), [{ path: 'limits', message: 'must be an object' }]);
  assert.deepEqual(
    validateLimits({}).map((i) => i.path),
    ['limits.rules'],
  );
});

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
