import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ConsoleCookies, newSid, readCookie } from './session.ts';

const key = randomBytes(32);

test('a session cookie round-trips; tampered, foreign-key and expired ones are refused', () => {
  const c = new ConsoleCookies(key, false);
  const s = { token: 'eyJ.x.y', sid: newSid(), login: 0, exp: Date.now() + 60_000 };
  const set = c.sessionCookie(s);
  assert.match(set, /^gatehouse-console=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
  const value = set.split(';')[0];
  assert.deepEqual(c.session(`other=1; ${value}`), s);
  const v = value.split('=')[1];
  const flipped = `${v.slice(0, -2)}${v.endsWith('AA') ? 'BB' : 'AA'}`;
  assert.equal(c.session(`gatehouse-console=${flipped}`), undefined, 'tampered');
  assert.equal(new ConsoleCookies(randomBytes(32), false).session(value), undefined, 'another key');
  assert.equal(c.session(value, s.exp + 1), undefined, 'expired');
  // The login cookie cannot stand in for a session (different associated data).
  const login = c
    .loginCookie({ state: 's', verifier: 'v', nonce: 'n', login: 0, exp: Date.now() + 60_000 })
    .split(';')[0]
    .split('=')[1];
  assert.equal(c.session(`gatehouse-console=${login}`), undefined);
});

test('secure cookies: __Host- names, Secure; the login cookie is Lax so it survives the provider redirect', () => {
  const c = new ConsoleCookies(key, true);
  assert.match(
    c.sessionCookie({ token: 't', sid: 's', login: 0, exp: Date.now() + 1000 }),
    /^__Host-gatehouse-console=.*; SameSite=Strict; Secure$/,
  );
  assert.match(
    c.loginCookie({ state: 's', verifier: 'v', nonce: 'n', login: 0, exp: Date.now() + 1000 }),
    /^__Host-gatehouse-console-login=.*; SameSite=Lax; Secure$/,
  );
  assert.match(c.clearSession(), /Max-Age=0/);
});

test('CSRF tokens are bound to the session id and compared in constant time', () => {
  const c = new ConsoleCookies(key, false);
  const a = newSid();
  assert.equal(c.csrfOk(a, c.csrf(a)), true);
  assert.equal(c.csrfOk(newSid(), c.csrf(a)), false);
  assert.equal(c.csrfOk(a, null), false);
  assert.equal(c.csrfOk(a, ''), false);
  assert.equal(readCookie('a=1; b=2', 'b'), '2');
  assert.equal(readCookie(undefined, 'b'), undefined);
});
