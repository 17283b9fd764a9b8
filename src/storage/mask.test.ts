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

test('maskUrl masks what it cannot parse generously', () => {
  assert.equal(maskUrl('postgres://u:p@ss@[bad/db'), 'postgres://u:***@[bad/db');
  assert.equal(maskUrl('host=h password=kw-pw dbname=x'), 'host=h password=*** dbname=x');
});

test('scrub removes the url and the password in every spelling', () => {
  const url = 'postgres://u:p%40ss%2Fw0rd@h:5432/db';
  const text = `failed for ${url}: bad password p@ss/w0rd (sent p%40ss%2Fw0rd)`;
  assert.equal(scrub(text, url), 'failed for postgres://u:***@h:5432/db: bad password *** (sent ***)');
  assert.equal(scrub('plain message', url), 'plain message');
});
