/** Passwords never shown: connection strings masked, driver messages scrubbed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskUrl, scrub } from './mask.ts';

test('maskUrl replaces the password and keeps everything else', () => {
  assert.equal(maskUrl('postgres://u:p@h/db'), 'postgres://u:***@h/db');
  assert.equal(
    maskUrl('postgres://gh:s3cret@127.0.0.1:5432/test?sslmode=require'),
    'postgres://gh:***@127.0.0.1:5432/test?sslmode=require',
  );
  assert.equal(maskUrl('postgres://u:p%40ss@h/db'), 'postgres://u:***@h/db');
  assert.equal(maskUrl('postgres://h/db?user=u&password=qu3ry'), 'postgres://h/db?user=u&password=***');
});

test('maskUrl leaves a url without a password alone', () => {
  assert.equal(maskUrl('postgres://postgres@127.0.0.1:5432/test'), 'postgres://postgres@127.0.0.1:5432/test');
});

test('maskUrl masks whole what is not a postgres URL (walk S: a password in the wrong variable)', () => {
  const whole = '(storage.postgresUrl, not a postgres:// URL: not shown)';
  for (const v of [
    'postgres://u:p@ss@[bad/db',
    'host=h password=kw-pw dbname=x',
    'hunter2-SUPERSECRET-9f8e',
    'hunter2:SUPERSECRET', // parses as a URL of scheme `hunter2:`
    'mysql://u:p@h/db',
  ])
    assert.equal(maskUrl(v), whole, v);
  assert.equal(
    scrub('database "hunter2-SUPERSECRET-9f8e" does not exist', 'hunter2-SUPERSECRET-9f8e'),
    `database "${whole}" does not exist`,
  );
});

test('scrub removes the url and the password in every spelling', () => {
  const url = 'postgres://u:p%40ss%2Fw0rd@h:5432/db';
  const text = `failed for ${url}: bad password p@ss/w0rd (sent p%40ss%2Fw0rd)`;
  assert.equal(scrub(text, url), 'failed for postgres://u:***@h:5432/db: bad password *** (sent ***)');
  assert.equal(scrub('plain message', url), 'plain message');
});
