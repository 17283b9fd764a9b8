import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FORM_TOKEN_TTL_MS, formToken, formTokenOk } from './form-token.ts';

test('a form token holds for its request, viewer and sign-in, for two hours, and for nothing else', () => {
  const now = Date.UTC(2026, 11, 7, 12);
  const t = formToken('k', 'apr_1', 'alice', 'console:s1', now);
  assert.ok(formTokenOk('k', t, 'apr_1', 'alice', 'console:s1', now + 60_000));
  assert.ok(formTokenOk('k', t, 'apr_1', 'alice', 'console:s1', now + FORM_TOKEN_TTL_MS - 1000));
  for (const [why, ok] of [
    ['expired', formTokenOk('k', t, 'apr_1', 'alice', 'console:s1', now + FORM_TOKEN_TTL_MS + 1000)],
    ['made in the future', formTokenOk('k', t, 'apr_1', 'alice', 'console:s1', now - 120_000)],
    ['another sign-in', formTokenOk('k', t, 'apr_1', 'alice', 'console:s2', now)],
    ['another request', formTokenOk('k', t, 'apr_2', 'alice', 'console:s1', now)],
    ['another viewer', formTokenOk('k', t, 'apr_1', 'bob', 'console:s1', now)],
    ['another key', formTokenOk('k2', t, 'apr_1', 'alice', 'console:s1', now)],
    [
      'its time moved',
      formTokenOk(
        'k',
        t.replace(/^\d+/, (s) => String(Number(s) + 1)),
        'apr_1',
        'alice',
        'console:s1',
        now,
      ),
    ],
    ['malformed', formTokenOk('k', 'forged', 'apr_1', 'alice', 'console:s1', now)],
    ['no time', formTokenOk('k', `.${t.split('.')[1]}`, 'apr_1', 'alice', 'console:s1', now)],
  ] as const)
    assert.equal(ok, false, why);
});
