// missingSecrets: which local: and env: references name nothing, as a start would resolve them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerConfig } from '../config/schema.ts';
import { missingSecrets } from './missing-secrets.ts';

const server = (name: string, env: Record<string, string>, discoveryTenant?: string) =>
  ({ name, transport: 'stdio', command: 'x', credentials: { env, discoveryTenant } }) as unknown as ServerConfig;

test('local: by the store names, env: by the environment, expanded for the discovery tenant', () => {
  const servers = [
    server('a', { T: 'local:{tenant}-gh', U: 'env:SET', V: 'env:EMPTY', W: 'vault://secret/x#t' }, 'acme'),
    server('b', { T: 'local:known', U: 'exec:/bin/get-token', V: 'env:{tenant}' }),
  ];
  const known = { local: new Set(['known', 'globex-gh']), env: { SET: 'CANARY', EMPTY: '' } };
  const got = missingSecrets(servers, known);
  assert.deepEqual(
    got.map((m) => [m.server, m.ref, m.fix]),
    [
      ['a', 'local:acme-gh', 'gatehouse secrets set acme-gh'],
      ['a', 'env:EMPTY', "set EMPTY in the gateway's environment"],
      ['b', 'env:default', "set default in the gateway's environment"],
    ],
    'an empty variable is missing; vault: and exec: are not looked at',
  );
  assert.ok(!JSON.stringify(got).includes('CANARY'));
  // A store that cannot be read judges no local: reference (it would be guessing).
  assert.deepEqual(
    missingSecrets(servers, { ...known, local: undefined }).map((m) => m.ref),
    ['env:EMPTY', 'env:default'],
  );
  // PostgreSQL: a name left in the state directory's file is said to need `secrets migrate`.
  assert.deepEqual(
    missingSecrets(servers, { ...known, inFile: new Set(['acme-gh']) })
      .filter((m) => m.ref.startsWith('local:'))
      .map((m) => [m.ref, m.fix]),
    [['local:acme-gh', 'gatehouse secrets migrate']],
  );
});
