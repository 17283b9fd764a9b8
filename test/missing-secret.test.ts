/**
 * A `local:` reference to a secret the store does not hold, or an `env:` one to an unset variable
 * (walk R, item 1): the server never starts. `inventory --refresh` says why and what to run, and
 * `gatehouse check` 2.3 says so before any start; neither shows a value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalSecretStore, loadKey } from '../src/credentials/local-store.ts';
import { EVERYTHING, runCli } from './support/gateway.ts';

const CANARY = 'CANARY-value-of-demo-token-4f1c';

async function setup(): Promise<{ dir: string; file: string; store: LocalSecretStore }> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-missing-secret-'));
  const state = join(dir, 'state');
  const file = join(dir, 'gatehouse.yaml');
  const server = (name: string, env: string) =>
    `  - name: ${name}\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EVERYTHING)}]\n    credentials: { env: ${env} }\n`;
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(state)}\nservers:\n${server('everything', '{ DEMO_TOKEN: "local:demo-token", OTHER: "local:demo-tokn" }')}${server('other', '{ DEMO_TOKEN: "env:DEMO_UNSET_VAR" }')}`,
  );
  const store = new LocalSecretStore(
    join(state, 'secrets.enc.json'),
    await loadKey({ keyFile: join(state, 'secrets.key') }),
  );
  await store.set('demo-token', CANARY);
  return { dir, file, store };
}

const ENV = { DEMO_UNSET_VAR: '', GATEHOUSE_LOG_LEVEL: 'silent' };

test('inventory --refresh says which secret is missing and what to run, never a value', async () => {
  const { dir, file } = await setup();
  try {
    const r = await runCli(['inventory', '--refresh', '-c', file], { env: ENV });
    assert.match(
      r.stderr,
      /everything: not started, its credentials are unavailable: local:demo-tokn: no such local secret `demo-tokn` \(fix: gatehouse secrets set demo-tokn\)\n/,
    );
    assert.match(
      r.stderr,
      /other: not started, its credentials are unavailable: env:DEMO_UNSET_VAR: the environment variable `DEMO_UNSET_VAR` is not set \(fix: set DEMO_UNSET_VAR in the gateway's environment\)\n/,
    );
    assert.doesNotMatch(r.stderr, /not reachable \(unknown\)|local: local:|env: env:/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(CANARY));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('check 2.3 fails on a local secret the store does not hold and an unset variable, with the fix', async () => {
  const { dir, file, store } = await setup();
  try {
    const items = async (env: Record<string, string>) => {
      const r = await runCli(['check', '--json', '-c', file], { env });
      assert.ok(!r.stdout.includes(CANARY));
      return JSON.parse(r.stdout).items as Array<{ id: string; status: string; why: string; fix: string }>;
    };
    const item2_3 = async (env: Record<string, string>) => (await items(env)).find((i) => i.id === '2.3')!;
    const missing = await item2_3(ENV);
    // 1.2 no longer sends the operator to a refresh that cannot discover them.
    const discovered = (await items(ENV)).find((i) => i.id === '1.2')!;
    assert.equal(
      discovered.why,
      'never discovered: everything, other; everything, other cannot start: credentials unavailable (2.3)',
    );
    assert.match(discovered.fix, /^give the servers their missing secrets \(2\.3\), then start the gateway/);
    assert.equal(missing.status, 'fail');
    assert.equal(
      missing.why,
      'credentials unavailable, the server cannot start: everything (local:demo-tokn: no such local secret `demo-tokn`), other (env:DEMO_UNSET_VAR: the environment variable `DEMO_UNSET_VAR` is not set) (env: as this command sees its environment)',
    );
    assert.equal(missing.fix, "gatehouse secrets set demo-tokn; set DEMO_UNSET_VAR in the gateway's environment");
    // Once both are there, 2.3 is about where they live again.
    await store.set('demo-tokn', 'x');
    const present = await item2_3({ ...ENV, DEMO_UNSET_VAR: 'set' });
    assert.equal(present.status, 'warn');
    assert.match(present.why, /^not in a secrets manager/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
