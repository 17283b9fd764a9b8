/**
 * `local:` secrets with two replicas on one PostgreSQL schema, as docs/operations.md sets them up
 * (same config, each its own state directory, one GATEHOUSE_SECRETS_KEY): a secret set once through
 * one replica's config is used by both; a value set again through the other reaches both; the other
 * tenant's value is refused as `secret:outbound` on both; and the key is rolled across a rolling
 * restart (GATEHOUSE_SECRETS_KEY_PREVIOUS, then `gatehouse secrets rotate-key`) with every call
 * answered on the replica that is up. Each replica runs its own upstream process per tenant; what
 * that process holds is read back as a digest (echo_env sha256), which no scrubber knows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { LocalSecretStore } from '../src/credentials/local-store.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, startCli, stdioServer } from './support/gateway.ts';
import { createPgSchema, dropPgSchema, freshPgSchema, pgUrlWithSchema, postgresAvailable } from './support/services.ts';
import { postModernCall, replyOf } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-shared-secrets-'));
const REC = join(ROOT, 'test/fixtures/upstreams/recording-server.ts');
const schemas: string[] = [];
let pgUp = false;
before(async () => {
  pgUp = await postgresAvailable();
});
after(async () => {
  for (const s of schemas) await dropPgSchema(s).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const newKey = () => randomBytes(32).toString('base64');
const digest = (v: string) => `API_TOKEN=sha256:${createHash('sha256').update(v).digest('hex')}`;

/** A replica's config: its own state directory, the shared schema, one server holding `local:canary-{tenant}`. */
function replicaYaml(name: string, schema: string, discovery = 'acme'): string {
  const state = join(dir, schema, name);
  mkdirSync(state, { recursive: true });
  return (
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(state)}\n` +
    `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(pgUrlWithSchema(schema))}\n` +
    'identity: { apiKeys: true }\nsecrets:\n  cacheTtlSeconds: 1\nservers:\n' +
    stdioServer('leaky', REC) +
    `    env: { RECORD_FILE: ${JSON.stringify(join(dir, schema, `${name}.jsonl`))} }\n` +
    `    credentials: { env: { API_TOKEN: "local:canary-{tenant}" }, discoveryTenant: ${discovery} }\n` +
    '    tools: { echo_env: { class: READ }, record: { class: READ } }\n'
  );
}

type Env = Record<string, string | undefined>;

/** Where a replica's config is written (startCli writes `gatehouse.yaml` in its folder). */
function configOf(name: string, schema: string, discovery?: string): { folder: string; file: string } {
  const folder = join(dir, schema, `${name}-cfg`);
  mkdirSync(folder, { recursive: true });
  const file = join(folder, 'gatehouse.yaml');
  writeFileSync(file, replicaYaml(name, schema, discovery));
  return { folder, file };
}

/** A replica started with exactly these secrets keys in its environment (others removed). */
async function startReplica(name: string, schema: string, keys: Env, discovery?: string) {
  const saved = {
    GATEHOUSE_SECRETS_KEY: process.env.GATEHOUSE_SECRETS_KEY,
    GATEHOUSE_SECRETS_KEY_PREVIOUS: process.env.GATEHOUSE_SECRETS_KEY_PREVIOUS,
  };
  setKeys(keys);
  try {
    return await startCli(replicaYaml(name, schema, discovery), configOf(name, schema, discovery).folder);
  } finally {
    setKeys(saved);
  }
}

function setKeys(keys: Env): void {
  for (const k of ['GATEHOUSE_SECRETS_KEY', 'GATEHOUSE_SECRETS_KEY_PREVIOUS']) {
    if (keys[k] === undefined) delete process.env[k];
    else process.env[k] = keys[k];
  }
}

/** `gatehouse <args>` with `input` on standard input and these keys in its environment. */
function cli(args: string[], keys: Env, input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.GATEHOUSE_SECRETS_KEY_PREVIOUS;
  for (const [k, v] of Object.entries(keys)) if (v !== undefined) env[k] = v;
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((res) => child.once('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

async function setSecret(file: string, name: string, value: string, keys: Env): Promise<void> {
  const r = await cli(['secrets', 'set', name, '-c', file], keys, `${value}\n`);
  assert.equal(r.code, 0, r.stderr);
}

/** The text of a call's answer, or its error message. */
async function call(url: string, token: string, tool: string, args: Record<string, unknown>): Promise<string> {
  const r = await replyOf(await postModernCall(url, `leaky__${tool}`, args, { token }));
  if (r.error) return `error: ${r.error.message}`;
  const text = (r.result.content as Array<{ text?: string }> | undefined)?.map((c) => c.text ?? '').join('') ?? '';
  return r.result.isError ? `error: ${text}` : text;
}

const held = (url: string, token: string) => call(url, token, 'echo_env', { name: 'API_TOKEN', encoding: 'sha256' });

/** Until the caller's upstream connection on `url` holds `value`. */
async function holds(url: string, token: string, value: string, what: string): Promise<void> {
  let last = '';
  const look = async () => {
    last = await held(url, token);
    return last === digest(value);
  };
  await eventually(look, { timeoutMs: 15_000 }).catch(() =>
    assert.fail(`${what}: the upstream holds ${last}, not the value set`),
  );
}

/** Until tenant beta sending `value` (acme's) is refused as secret:outbound on `url`; never echoed back. */
async function refused(url: string, token: string, value: string, what: string): Promise<void> {
  let last = '';
  const look = async () => {
    last = await call(url, token, 'record', { note: value });
    return /secret:outbound/.test(last);
  };
  await eventually(look, { timeoutMs: 15_000 }).catch(() =>
    assert.fail(`${what}: beta sending acme's value got ${last.replace(value, '<ACME VALUE>')}`),
  );
  assert.ok(!last.includes(value), `${what}: the refusal quotes the value`);
}

test('a local: secret set once reaches both replicas; set again, both use the new value; the other tenant sending it is refused on both', async (t) => {
  if (!pgUp) return void t.skip('PostgreSQL is not reachable');
  const schema = freshPgSchema();
  schemas.push(schema);
  await createPgSchema(schema);
  const keys = { GATEHOUSE_SECRETS_KEY: newKey() };
  const v1 = `acme-v1-${randomUUID()}`;
  const v2 = `acme-v2-${randomUUID()}`;
  // Set once, through replica 1's config (its state directory), before the replicas start.
  await setSecret(configOf('r1', schema).file, 'canary-acme', v1, keys);
  await setSecret(configOf('r1', schema).file, 'canary-beta', `beta-${randomUUID()}`, keys);
  const r1 = await startReplica('r1', schema, keys);
  t.after(() => r1.stop());
  const r2 = await startReplica('r2', schema, keys);
  t.after(() => r2.stop());
  const acme = await createKey(r1.file, { name: 'acme', tenant: 'acme', scopes: 'x' });
  const beta = await createKey(r1.file, { name: 'beta', tenant: 'beta', scopes: 'x' });
  for (const [name, r] of [
    ['replica 1', r1],
    ['replica 2', r2],
  ] as const) {
    // Refused before acme calls there: learned from the shared store at the start, not from a call.
    await refused(r.url, beta, v1, name);
    await holds(r.url, acme, v1, name);
  }
  // Set again, through replica 2's config this time.
  await setSecret(r2.file, 'canary-acme', v2, keys);
  for (const [name, r] of [
    ['replica 1', r1],
    ['replica 2', r2],
  ] as const) {
    await holds(r.url, acme, v2, `${name} after the new value`);
    await refused(r.url, beta, v2, `${name} after the new value`);
  }
  // `secrets list` through either config shows the one store.
  const listed = await cli(['secrets', 'list', '--json', '-c', r2.file], keys);
  assert.deepEqual(
    (JSON.parse(listed.stdout) as { secrets: Array<{ name: string }> }).secrets.map((s) => s.name),
    ['canary-acme', 'canary-beta'],
  );
});

type Running = Awaited<ReturnType<typeof startReplica>>;

test('an environment key rolled across a rolling restart: every call answered, then rotate-key re-seals everything under the new key', async (t) => {
  if (!pgUp) return void t.skip('PostgreSQL is not reachable');
  const schema = freshPgSchema();
  schemas.push(schema);
  await createPgSchema(schema);
  const [A, B] = [newKey(), newKey()];
  const oldOnly = { GATEHOUSE_SECRETS_KEY: A };
  const v1 = `acme-v1-${randomUUID()}`;
  const v2 = `acme-v2-${randomUUID()}`;
  await setSecret(configOf('r1', schema).file, 'canary-acme', v1, oldOnly);
  const betaValue = `beta-${randomUUID()}`;
  await setSecret(configOf('r1', schema).file, 'canary-beta', betaValue, oldOnly);
  const up: Record<string, Running> = {
    r1: await startReplica('r1', schema, oldOnly),
    r2: await startReplica('r2', schema, oldOnly),
  };
  t.after(() => Promise.all(Object.values(up).map((r) => r.stop())));
  const acme = await createKey(up.r1.file, { name: 'acme', tenant: 'acme', scopes: 'x' });
  let value = v1;
  /** One replica restarted with `keys` while the other answers; then both answer. */
  const restart = async (name: 'r1' | 'r2', keys: Env, step: string) => {
    const other = name === 'r1' ? 'r2' : 'r1';
    await up[name].stop();
    await holds(up[other].url, acme, value, `${step}: ${other} while ${name} restarts`);
    up[name] = await startReplica(name, schema, keys);
    for (const r of ['r1', 'r2']) await holds(up[r].url, acme, value, `${step}: ${r}`);
  };
  // 1. Every replica holds the new key beside the old one, still sealing with the old one.
  const both = { GATEHOUSE_SECRETS_KEY: A, GATEHOUSE_SECRETS_KEY_PREVIOUS: B };
  await restart('r1', both, 'the new key beside');
  await restart('r2', both, 'the new key beside');
  // 2. Every replica seals with the new key and holds the old one.
  const rolled = { GATEHOUSE_SECRETS_KEY: B, GATEHOUSE_SECRETS_KEY_PREVIOUS: A };
  await restart('r1', rolled, 'the new key in force');
  // Mid-roll: a value set under the new key opens on the replica still sealing with the old one.
  await setSecret(up.r1.file, 'canary-acme', v2, rolled);
  value = v2;
  for (const r of ['r1', 'r2']) await holds(up[r].url, acme, value, `mid-roll: ${r}`);
  const check = await cli(['check', '--json', '-c', up.r1.file], rolled);
  const items = (JSON.parse(check.stdout) as { items: Array<{ id: string; status: string; why: string }> }).items;
  const item = items.find((i) => i.id === '2.7');
  assert.equal(item?.status, 'warn', JSON.stringify(item));
  assert.match(item?.why ?? '', /a key roll is in progress/);
  await restart('r2', rolled, 'the new key in force');
  // 3. Everything sealed again under the new key; a replica given the new key alone reads it all.
  const r = await cli(['secrets', 'rotate-key', '--json', '-c', up.r1.file], rolled);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { secrets: { resealed: number; unreadable: number } };
  assert.equal(out.secrets.resealed, 1, r.stdout); // canary-beta, still under the old key
  assert.equal(out.secrets.unreadable, 0, r.stdout);
  await restart('r1', { GATEHOUSE_SECRETS_KEY: B }, 'the old key taken away');
  // canary-beta was sealed under the old key only: it opens with the new one alone since rotate-key.
  const beta = await createKey(up.r1.file, { name: 'beta', tenant: 'beta', scopes: 'x' });
  await holds(up.r1.url, beta, betaValue, 'beta on the new key alone');
});

test("secrets left in a replica's state directory file: its start says to run `secrets migrate`, which moves them into the database", async (t) => {
  if (!pgUp) return void t.skip('PostgreSQL is not reachable');
  const schema = freshPgSchema();
  schemas.push(schema);
  await createPgSchema(schema);
  const keys = { GATEHOUSE_SECRETS_KEY: newKey() };
  const { file } = configOf('r1', schema, 'beta');
  await setSecret(file, 'canary-beta', `beta-${randomUUID()}`, keys);
  // acme's, as a version before ADR 0016 kept it: in the state directory's file, under the same key.
  const stateFile = join(dir, schema, 'r1', 'secrets.enc.json');
  const v = `acme-file-${randomUUID()}`;
  await new LocalSecretStore(stateFile, Buffer.from(keys.GATEHOUSE_SECRETS_KEY, 'base64')).set('canary-acme', v);
  const r1 = await startReplica('r1', schema, keys, 'beta');
  t.after(() => r1.stop());
  const said = await r1.logged(/local: secret\(s\) are in this state directory's file/);
  assert.match(said, /run `gatehouse secrets migrate`/);
  assert.match(said, /canary-acme/);
  assert.ok(!said.includes(v));
  const acme = await createKey(file, { name: 'acme', tenant: 'acme', scopes: 'x' });
  assert.match(await held(r1.url, acme), /^error: .*credentials of server .*unavailable/);
  const m = await cli(['secrets', 'migrate', '--json', '-c', file], keys);
  assert.equal(m.code, 0, m.stderr);
  assert.deepEqual((JSON.parse(m.stdout) as { moved: string[] }).moved, ['canary-acme']);
  assert.ok(!existsSync(stateFile) && existsSync(`${stateFile}.migrated`), 'the file is renamed aside');
  await holds(r1.url, acme, v, 'after secrets migrate');
});
