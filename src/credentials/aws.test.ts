// AWS Secrets Manager provider through the real AWS SDK v3 client, against a fake endpoint that speaks
// the JSON 1.1 protocol and verifies SigV4 signatures itself (test/fixtures/secrets/aws-sm-server.ts).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsSecretsManagerProvider } from './aws.ts';
import type { AwsSecretsManagerOptions } from './aws.ts';
import { SecretResolver } from './resolver.ts';
import { parseReference } from './types.ts';
import { startAwsSmServer } from '../../test/fixtures/secrets/aws-sm-server.ts';
import type { AwsSmServer } from '../../test/fixtures/secrets/aws-sm-server.ts';
import { serve } from '../../test/fixtures/secrets/http.ts';
import { expectCredentialError } from '../../test/support/credential-errors.ts';

const ACCESS_KEY = 'AKIAGATEHOUSETEST01';
const SECRET_KEY = 'CANARY-AWS-SECRET-KEY-wJalrXUtnFEMI/K7MDENG';
const SECRET = 'CANARY-SECRET-aws-91be';
const canaries = [SECRET_KEY, SECRET, 'CANARY-PLAIN'];

const rejectsWith = (p: Promise<unknown>, code: string) => expectCredentialError(p, code, canaries);

describe('aws secrets manager provider', () => {
  let aws: AwsSmServer;
  const providers: AwsSecretsManagerProvider[] = [];
  const provider = (o: Partial<AwsSecretsManagerOptions> = {}) => {
    const p = new AwsSecretsManagerProvider({
      region: 'eu-west-1',
      endpoint: aws.url,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      maxAttempts: 1,
      ...o,
    });
    providers.push(p);
    return p;
  };
  const resolve = (p: AwsSecretsManagerProvider, ref: string) => p.resolve(parseReference(ref));

  before(async () => {
    aws = await startAwsSmServer({ region: 'eu-west-1', credentials: { [ACCESS_KEY]: SECRET_KEY } });
    aws.setSecret('mcp/acme/github', JSON.stringify({ token: SECRET, user: 'bot', n: 3 }));
    aws.setSecret('mcp/acme/plain', '  CANARY-PLAIN  ');
    aws.setSecret('mcp/acme/binary', Buffer.from([1, 2, 3]));
  });
  after(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await aws.close();
  });
  beforeEach(() => (aws.requests.length = 0));

  test('a JSON field through the real SDK, signed and verified', async () => {
    const v = await resolve(provider(), 'aws-sm://mcp/acme/github#token');
    assert.equal(v.value, SECRET);
    assert.match(v.version ?? '', /^00000000-/);
    assert.deepEqual(aws.requests, [
      { target: 'secretsmanager.GetSecretValue', secretId: 'mcp/acme/github', status: 200 },
    ]);
    assert.equal((await resolve(provider(), 'aws-sm://mcp/acme/github#n')).value, '3');
  });

  test('without #field the whole string is returned (as stored), binary as base64', async () => {
    assert.equal((await resolve(provider(), 'aws-sm://mcp/acme/plain')).value, '  CANARY-PLAIN  ');
    assert.equal((await resolve(provider(), 'aws-sm://mcp/acme/binary')).value, 'AQID');
    assert.equal(
      (await resolve(provider(), 'aws-sm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp/acme/plain-AbCdEf'))
        .value,
      '  CANARY-PLAIN  ',
      'an ARN works as the secret id',
    );
  });

  test('missing secret, missing field, field of a non-JSON secret: E_SECRET_NOT_FOUND', async () => {
    await rejectsWith(resolve(provider(), 'aws-sm://mcp/acme/none#token'), 'E_SECRET_NOT_FOUND');
    assert.equal(aws.requests.at(-1)?.error, 'ResourceNotFoundException');
    await rejectsWith(resolve(provider(), 'aws-sm://mcp/acme/github#nope'), 'E_SECRET_NOT_FOUND');
    await rejectsWith(resolve(provider(), 'aws-sm://mcp/acme/plain#token'), 'E_SECRET_NOT_FOUND');
  });

  test('the server really verifies SigV4: a wrong secret key gets 403 InvalidSignatureException', async () => {
    const e = await rejectsWith(
      resolve(
        provider({ credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: `${SECRET_KEY}x` } }),
        'aws-sm://mcp/acme/github#token',
      ),
      'E_PROVIDER_AUTH',
    );
    assert.match(e.message, /InvalidSignatureException.*HTTP 403/);
    assert.deepEqual(aws.requests.at(-1), {
      target: 'secretsmanager.GetSecretValue',
      status: 403,
      error: 'InvalidSignatureException',
    });
    await rejectsWith(
      resolve(
        provider({ credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: SECRET_KEY } }),
        'aws-sm://mcp/acme/github#token',
      ),
      'E_PROVIDER_AUTH',
    );
    assert.equal(aws.requests.at(-1)?.error, 'UnrecognizedClientException');
  });

  test('a body changed after signing is refused (the payload hash is part of the signature)', async () => {
    const client = new SecretsManagerClient({
      region: 'eu-west-1',
      endpoint: aws.url,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      maxAttempts: 1,
    });
    type Middleware = Parameters<typeof client.middlewareStack.addRelativeTo>[0];
    const tamper = (next: (a: unknown) => Promise<unknown>) => async (args: unknown) => {
      const request = (args as { request: { body: string; headers: Record<string, string> } }).request;
      request.body = JSON.stringify({ SecretId: 'mcp/acme/plain' });
      request.headers['content-length'] = String(Buffer.byteLength(request.body));
      return next(args);
    };
    client.middlewareStack.addRelativeTo(tamper as unknown as Middleware, {
      relation: 'after',
      toMiddleware: 'httpSigningMiddleware',
      name: 'tamper',
    });
    try {
      await assert.rejects(client.send(new GetSecretValueCommand({ SecretId: 'mcp/acme/github' })), {
        name: 'InvalidSignatureException',
      });
      assert.equal(aws.requests.at(-1)?.status, 403);
    } finally {
      client.destroy();
    }
  });

  test('a signature from a skewed clock is refused', async () => {
    const skewed = await startAwsSmServer({
      region: 'eu-west-1',
      credentials: { [ACCESS_KEY]: SECRET_KEY },
      now: () => Date.now() + 3_600_000,
    });
    try {
      skewed.setSecret('s', 'v');
      // The SDK corrects its clock from the Date header after a skew error, so allow no retry.
      await rejectsWith(resolve(provider({ endpoint: skewed.url }), 'aws-sm://s'), 'E_PROVIDER_AUTH');
      assert.equal(skewed.requests.at(-1)?.status, 403);
    } finally {
      await skewed.close();
    }
  });

  test('endpoint down or hanging: E_PROVIDER_UNAVAILABLE', async () => {
    const gone = await serve((_q, res) => void res.end());
    await gone.close();
    await rejectsWith(
      resolve(provider({ endpoint: gone.url }), 'aws-sm://mcp/acme/github#token'),
      'E_PROVIDER_UNAVAILABLE',
    );
    const hang = await serve(() => {});
    try {
      const t0 = Date.now();
      await rejectsWith(
        resolve(provider({ endpoint: hang.url, timeoutMs: 300 }), 'aws-sm://mcp/acme/github#token'),
        'E_PROVIDER_UNAVAILABLE',
      );
      assert.ok(Date.now() - t0 < 3_000);
    } finally {
      await hang.close();
    }
  });

  test('through the resolver: cached within TTL, rotated value after TTL, concurrent resolves share one call', async () => {
    let clock = 1_000;
    const r = new SecretResolver({ providers: [provider({ cacheTtlMs: 5_000, now: () => clock })], now: () => clock });
    aws.setSecret('mcp/acme/rot', JSON.stringify({ token: 'first' }));
    const ref = 'aws-sm://mcp/{tenant}/rot#token';
    const got = await Promise.all([1, 2, 3, 4].map(() => r.resolve(ref, { context: { tenant: 'acme' } })));
    assert.deepEqual(new Set(got.map((v) => v.value)), new Set(['first']));
    assert.equal(aws.requests.length, 1);
    aws.setSecret('mcp/acme/rot', JSON.stringify({ token: 'second' }));
    clock += 4_000;
    assert.equal((await r.resolve(ref, { context: { tenant: 'acme' } })).value, 'first');
    assert.equal(aws.requests.length, 1);
    clock += 2_000;
    assert.equal((await r.resolve(ref, { context: { tenant: 'acme' } })).value, 'second');
    assert.equal(aws.requests.length, 2);
  });

  test('a non-loopback http endpoint is refused', () => {
    assert.throws(
      () => new AwsSecretsManagerProvider({ region: 'us-east-1', endpoint: 'http://sm.example.com' }),
      /https/,
    );
  });
});
