// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config's own `${VAR}` reference syntax, as written in a file
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { passwordWrittenIn } from './literal-passwords.ts';

test('passwordWrittenIn: a password of its own in the URL as written; references, no password or no URL are not', () => {
  for (const written of [
    'postgres://app:s3cret@db:5432/gatehouse',
    'rediss://:s3cret@cache:6380',
    'postgres://${PGUSER}:s3cret@${PGHOST}/gatehouse',
  ])
    assert.equal(passwordWrittenIn(written), true, written);
  for (const written of [
    '${DATABASE_URL}',
    '${DATABASE_URL:-postgres://app:pw@db/g}',
    'postgres://app:${PGPASSWORD}@db/gatehouse',
    'postgres://app:pre${PGPASSWORD}@db/gatehouse', // a password made with a reference is the environment's
    'redis://:${REDIS_PW:-x}@127.0.0.1:6379',
    'postgres://app@db/gatehouse',
    'redis://127.0.0.1:6379',
    'not a url',
    '',
  ])
    assert.equal(passwordWrittenIn(written), false, written);
});
