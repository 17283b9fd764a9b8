// parseReference, expandReference and CredentialError messages.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CredentialError, expandReference, parseReference } from './types.ts';

const invalid = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof CredentialError && e.code === 'E_REF_INVALID');

describe('parseReference', () => {
  test('each scheme', () => {
    assert.deepEqual(parseReference('vault://secret/mcp/acme/github#token'), {
      scheme: 'vault',
      path: 'secret/mcp/acme/github',
      field: 'token',
      raw: 'vault://secret/mcp/acme/github#token',
    });
    assert.deepEqual(parseReference('aws-sm://prod/github#token'), {
      scheme: 'aws-sm',
      path: 'prod/github',
      field: 'token',
      raw: 'aws-sm://prod/github#token',
    });
    assert.deepEqual(parseReference('aws-sm://prod/github'), {
      scheme: 'aws-sm',
      path: 'prod/github',
      field: undefined,
      raw: 'aws-sm://prod/github',
    });
    assert.equal(
      parseReference('aws-sm://arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf#k').path,
      'arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf',
    );
    assert.deepEqual(parseReference('op://Infra/GitHub Bot/token'), {
      scheme: 'op',
      path: 'Infra/GitHub Bot',
      field: 'token',
      raw: 'op://Infra/GitHub Bot/token',
    });
    assert.deepEqual(parseReference('exec:/usr/bin/get-token  github '), {
      scheme: 'exec',
      path: '/usr/bin/get-token  github',
      raw: 'exec:/usr/bin/get-token  github ',
    });
    assert.deepEqual(parseReference('env:GITHUB_TOKEN'), {
      scheme: 'env',
      path: 'GITHUB_TOKEN',
      raw: 'env:GITHUB_TOKEN',
    });
    assert.deepEqual(parseReference('local:acme.github'), {
      scheme: 'local',
      path: 'acme.github',
      raw: 'local:acme.github',
    });
    assert.deepEqual(
      parseReference('gcp-sm://projects/p/secrets/s#v'),
      { scheme: 'gcp-sm', path: 'projects/p/secrets/s', field: 'v', raw: 'gcp-sm://projects/p/secrets/s#v' },
      'unknown schemes parse generically',
    );
  });

  test('clear refusals', () => {
    for (const bad of [
      '',
      'github-token',
      'vault://secret/mcp/github', // no field
      'vault://secret#token', // no path below the mount
      'vault://secret/../sys/x#token',
      'vault://secret/./x#token',
      'vault://secret//x#token',
      'vault://secret/x#',
      'vault://secret/x#a#b',
      'aws-sm://',
      'aws-sm://x#a#b',
      'aws-sm://my secret',
      'op://Infra/GitHub', // no field
      'op://Infra/a/b/c',
      'op://Infra/GitHub/token#x',
      'op://Infra/a"b/token',
      'exec:   ',
      'env:1BAD',
      'env:A-B',
      'local:../x',
      'local:a/b',
      'vault://secret/x\u0000y#t',
      'vault://secret/x\u202ey#t',
      `vault://secret/${'x'.repeat(3000)}#t`,
    ])
      invalid(() => parseReference(bad));
    const e = (() => {
      try {
        parseReference('vault://secret/mcp/github');
      } catch (err) {
        return err as CredentialError;
      }
    })();
    assert.equal(
      e?.message,
      'vault://secret/mcp/github: a vault reference needs a #field (vault://<mount>/<path>#<field>)',
    );
  });
});

describe('expandReference', () => {
  test('fills {tenant} and {env}, single pass', () => {
    assert.equal(
      expandReference('vault://secret/mcp/{tenant}/{env}/github#token', { tenant: 'acme', environment: 'prod' }),
      'vault://secret/mcp/acme/prod/github#token',
    );
    assert.equal(expandReference('local:{tenant}-x', { tenant: 'Zürich_2.a@b+c' }), 'local:Zürich_2.a@b+c-x');
    assert.equal(expandReference('env:PLAIN', {}), 'env:PLAIN');
  });

  test('refuses traversal and smuggling tenants', () => {
    const ref = 'vault://secret/mcp/{tenant}/github#token';
    for (const tenant of [
      '../x',
      '..',
      'a/b',
      '%2e%2e',
      '%2F',
      'a#b',
      'a b',
      'a\tb',
      'a\nb',
      'a\u0000b',
      'a\u202eb',
      'a\u200bb',
      'a\u2028b',
      'a\\b',
      'a"b',
      "a'b",
      'a?b',
      '{env}',
      'a:b',
      'x'.repeat(129),
    ]) {
      invalid(() => expandReference(ref, { tenant }));
    }
    invalid(() => expandReference(ref, {}));
    invalid(() => expandReference(ref, { tenant: '' }));
    invalid(() => expandReference('vault://secret/{env}/x#t', { tenant: 'acme', environment: 'prod/../dev' }));
    invalid(() => expandReference('vault://secret/{user}/x#t', { tenant: 'acme' }));
    invalid(() => expandReference('vault://secret/{constructor}/x#t', { tenant: 'acme' }));
  });

  test('the refused value is not echoed in the message', () => {
    try {
      expandReference('local:{tenant}', { tenant: '../../CANARY-hostile' });
      assert.fail('expected a refusal');
    } catch (e) {
      assert.ok(e instanceof CredentialError);
      assert.ok(!e.message.includes('CANARY'), e.message);
    }
  });
});
