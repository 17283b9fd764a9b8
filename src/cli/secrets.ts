/**
 * `gatehouse secrets set|list|delete|rotate-key` (the embedded encrypted store, `local:<name>`
 * references) and `gatehouse credentials revoke|restore|list` (any reference). A revocation is
 * confirmed: the command waits until every live gateway sharing the store has stopped serving the
 * credential, and prints the time that took.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/types.ts';
import { KEY_ENV } from '../credentials/local-store.ts';
import { loadKeys, PREVIOUS_KEY_ENV, previousKeyProblem } from '../credentials/held-keys.ts';
import { rotateEnvKey } from '../credentials/env-key-rotation.ts';
import { migrateFileSecrets } from '../credentials/file-secrets.ts';
import { type LocalSecrets, SharedSecretStore } from '../credentials/shared-store.ts';
import { type RotationOutcome, rotateSecretsKey } from '../credentials/key-rotation.ts';
import {
  credentialRefs,
  LOCAL_KEY_FILE,
  LOCAL_SECRETS_FILE,
  localSecrets,
  serversUsing,
} from '../credentials/broker.ts';
import { suggest } from '../util/suggest.ts';
import { actorName, type CliContext } from './context.ts';
import { reasonOption, recordAdmin, withReason } from './admin-record.ts';
import { jsonText, render } from './format.ts';
import { progress } from './progress.ts';
import { withStore } from './store.ts';
import { confirmationText, waiting } from './confirmation.ts';
import { confirmed, confirmedDetail, LIVE_MS, liveNow, type Confirmation } from '../incident/acks.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

/** `fn` with the `local:` secrets: the shared database's with PostgreSQL, the state directory's file with SQLite (ADR 0016). */
function withSecrets<T>(config: Config, fn: (secrets: LocalSecrets, s: Store) => Promise<T>): Promise<T> {
  return withStore(config, async (s) => fn(await localSecrets(config, s), s));
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.replace(/\r?\n$/, '');
}

export function registerSecrets(program: Command, ctx: CliContext): void {
  const secrets = program
    .command('secrets')
    .description('the embedded encrypted secret store (AES-256-GCM), for `local:<name>` references');
  registerSecretsSet(secrets, ctx);
  registerSecretsList(secrets, ctx);
  registerSecretsDelete(secrets, ctx);
  registerSecretsRotateKey(secrets, ctx);
  registerSecretsMigrate(secrets, ctx);

  const creds = program.command('credentials').description('revoke or restore upstream credentials (any reference)');
  registerCredentialsRevoke(creds, ctx);
  registerCredentialsRestore(creds, ctx);
  registerCredentialsList(creds, ctx);
}

type ConfigOpts = { config: string; json?: boolean; reason?: string };
type ListOpts = { config: string; json?: boolean };

function registerSecretsSet(secrets: Command, ctx: CliContext): void {
  secrets
    .command('set')
    .description('store a secret; the value is read from standard input (never from the command line)')
    .argument('<name>', 'referenced as local:<name>')
    .addOption(reasonOption())
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: ConfigOpts) => setSecret(ctx, name, opts));
}

async function setSecret(ctx: CliContext, name: string, opts: ConfigOpts): Promise<void> {
  if (!NAME.test(name)) ctx.fail('a secret name is 1-128 letters, digits and `_ . @ -`', 2);
  const config = await ctx.load(opts.config);
  if (process.stdin.isTTY) process.stderr.write(`value for local:${name} (then Enter, Ctrl-D): `);
  const value = await readStdin();
  if (!value) ctx.fail('no value on standard input', 2);
  await withSecrets(config, async (secrets, s) => {
    await secrets.set(name, value);
    await recordAdmin(s, config.gateway.stateDir, actorName(undefined), 'secrets.set', {
      name,
      ...withReason(opts.reason),
    });
  });
  done(opts, { stored: `local:${name}` }, `stored local:${name}`);
}

function registerSecretsList(secrets: Command, ctx: CliContext): void {
  secrets
    .command('list')
    .description('names and update times (never values)')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action((opts: ListOpts) => listSecrets(ctx, opts));
}

async function listSecrets(ctx: CliContext, opts: ListOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const rows = await withSecrets(config, (secrets) => secrets.list());
  // The name the store knows, and the reference a config writes (`local:<name>`): both, in text and JSON.
  const listed = rows.map((r) => ({ ...r, ref: `local:${r.name}` }));
  if (opts.json) return void process.stdout.write(jsonText({ secrets: listed }));
  process.stdout.write(
    render(
      'table',
      ['name', 'reference', 'updated'],
      listed.map((r) => [r.name, r.ref, r.updatedAt]),
      null,
    ),
  );
}

function registerSecretsDelete(secrets: Command, ctx: CliContext): void {
  secrets
    .command('delete')
    .description('remove a secret')
    .argument('<name>')
    .addOption(reasonOption())
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: ConfigOpts) => deleteSecret(ctx, name, opts));
}

async function deleteSecret(ctx: CliContext, name: string, opts: ConfigOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const deleted = await withSecrets(config, async (secrets, s) => {
    if (!(await secrets.delete(name))) return false;
    await recordAdmin(s, config.gateway.stateDir, actorName(undefined), 'secrets.delete', {
      name,
      ...withReason(opts.reason),
    });
    return true;
  });
  if (!deleted) ctx.fail(`no secret local:${name}`, 2);
  done(opts, { deleted: `local:${name}` }, `deleted local:${name}`);
}

function registerSecretsRotateKey(secrets: Command, ctx: CliContext): void {
  secrets
    .command('rotate-key')
    .description(
      're-encrypt every secret and upstream authorization under a new key file; the old key stops working (an interrupted rotation is finished)',
    )
    .addOption(reasonOption())
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((opts: ConfigOpts) => rotateKey(ctx, opts));
}

/** How long rotate-key waits for running gateways to let it empty the embedded store's log. */
const EMPTY_LOG_MS = 30_000;

/**
 * The store's secrets, then the upstream OAuth tokens sealed with the key, re-encrypted under a new
 * key, which then replaces the key file (credentials/key-rotation.ts): interrupted at any point, the
 * next run finds the new key written aside and finishes with it. Running gateways on this state
 * directory notice the move within seconds (credentials/key-watch.ts). The embedded store zeroes what
 * it replaces; its write-ahead log, which still holds the tokens as sealed under the old key, is then
 * emptied into it, so the old key opens nothing in the state directory. Steps and progress on stderr
 * (none with --json).
 */
async function rotateKey(ctx: CliContext, opts: ConfigOpts): Promise<void> {
  // The replicas read that key, not the file: a new file would be a key they do not have.
  if (process.env[KEY_ENV]) return rotateEnvironmentKey(ctx, opts);
  const config = await ctx.load(opts.config);
  const shown = opts.json ? undefined : progress();
  const { r, emptied } = await withStore(config, async (s) => {
    const r = (await rotateSecretsKey({
      keyFile: join(config.gateway.stateDir, LOCAL_KEY_FILE),
      secretsFile: join(config.gateway.stateDir, LOCAL_SECRETS_FILE),
      tokens: s.upstreamTokens,
      secrets: s.driver === 'postgres' ? s.localSecrets : undefined,
      onStep: shown && ((text) => shown.end(`gatehouse: ${text}`)),
      onRow: shown && ((done, of) => shown.update(`re-sealing upstream authorizations: ${done} of ${of}`)),
    })) as RotationOutcome;
    shown?.end();
    await recordAdmin(s, config.gateway.stateDir, actorName(undefined), 'secrets.rotate-key', {
      keyId: r.keyId,
      upstreamTokens: r.upstreamTokens,
      ...(r.resumed && { resumed: r.resumed }),
      ...withReason(opts.reason),
    });
    return { r, emptied: (await s.emptyLog?.(EMPTY_LOG_MS)) ?? true };
  });
  done(opts, { ...r, resumed: r.resumed ?? null, oldValuesErased: emptied }, rotatedText(r));
  if (!emptied) {
    process.stderr.write(
      `gatehouse: the key is rotated, but the store's write-ahead log (${config.storage.sqlitePath}-wal) still holds the upstream authorizations as sealed under the old key: a gateway kept reading for ${EMPTY_LOG_MS / 1000} s. Stop the gateways on this state directory (the last one to stop empties the log), or run \`gatehouse secrets rotate-key\` again when they are idle\n`,
    );
    process.exitCode = 1;
  }
}

/**
 * The key from the environment: the replicas were given the new key (GATEHOUSE_SECRETS_KEY) with the
 * old one beside it (GATEHOUSE_SECRETS_KEY_PREVIOUS) by a rolling restart; everything sealed under the
 * old one is sealed again under the new one (credentials/env-key-rotation.ts).
 */
async function rotateEnvironmentKey(ctx: CliContext, opts: ConfigOpts): Promise<void> {
  if (!process.env[PREVIOUS_KEY_ENV])
    ctx.fail(
      `the secrets key comes from ${KEY_ENV}: rotate-key does not make that key. Roll it (docs/operations.md, "Rotating GATEHOUSE_SECRETS_KEY"): give every replica the new key as ${KEY_ENV} and the old one as ${PREVIOUS_KEY_ENV}, then run rotate-key with both set, as they are, to re-seal everything under the new key`,
      2,
    );
  const why = previousKeyProblem();
  if (why) ctx.fail(why, 2);
  const config = await ctx.load(opts.config);
  const keys = await loadKeys(join(config.gateway.stateDir, LOCAL_KEY_FILE));
  const r = await withStore(config, async (s) => {
    const r = await rotateEnvKey(s, join(config.gateway.stateDir, LOCAL_SECRETS_FILE), keys);
    await recordAdmin(s, config.gateway.stateDir, actorName(undefined), 'secrets.rotate-key', {
      keyId: r.keyId,
      previousKeyId: r.previousKeyId,
      upstreamTokens: r.upstreamTokens,
    });
    return r;
  });
  const unreadable = r.unreadable + r.secrets.unreadable;
  done(
    opts,
    { ...r },
    `${r.secrets.resealed} secret(s) (${r.secrets.current} under it already), ${r.upstreamTokens} upstream authorization(s) and ${r.pendingVerifiers} pending verifier(s) re-sealed under key ${r.keyId} (from ${r.previousKeyId}); ${PREVIOUS_KEY_ENV} can be taken away from the replicas now${unreadable ? `\n${unreadable} sealed value(s) open with neither key: left as they are (set those secrets again, authorize those upstreams again)` : ''}`,
  );
  if (unreadable) process.exitCode = 1;
}

function registerSecretsMigrate(secrets: Command, ctx: CliContext): void {
  secrets
    .command('migrate')
    .description(
      "PostgreSQL: move the `local:` secrets from this state directory's file into the database every replica reads",
    )
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((opts: ConfigOpts) => migrateSecrets(ctx, opts));
}

/** The file's secrets into the shared database (a name there already is kept), then the file renamed aside. */
async function migrateSecrets(ctx: CliContext, opts: ConfigOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  if (config.storage.driver !== 'postgres')
    ctx.fail("the store is SQLite: `local:` secrets stay in the state directory's file (nothing to migrate)", 2);
  const keys = await loadKeys(join(config.gateway.stateDir, LOCAL_KEY_FILE));
  const r = await withStore(config, async (s) => {
    const r = await migrateFileSecrets(
      join(config.gateway.stateDir, LOCAL_SECRETS_FILE),
      keys,
      new SharedSecretStore(s.localSecrets, keys),
    );
    if (r.moved.length)
      await recordAdmin(s, config.gateway.stateDir, actorName(undefined), 'secrets.migrate', { names: r.moved });
    return r;
  });
  const kept = r.kept.length
    ? `; ${r.kept.length} the database held already, kept as they are there: ${r.kept.join(', ')}`
    : '';
  const moved = r.renamedTo
    ? `${r.moved.length} secret(s) moved into the database${kept}; the file is now ${r.renamedTo} (remove it once the replicas use the secrets)`
    : 'no local: secrets in the file: nothing to move';
  done(opts, { ...r }, moved);
}

/** What a rotation did, in a line or two. */
function rotatedText(r: RotationOutcome): string {
  const line = `${r.secrets} secret(s) and ${r.upstreamTokens} upstream authorization(s) re-encrypted under key ${r.keyId}; running gateways on this state directory switch to it within seconds`;
  const resumed = r.resumed
    ? `\nthis finished the rotation interrupted since ${r.resumed.startedAt}: ${r.upstreamTokensUnderNewKeyAlready} upstream authorization(s)${r.secretsUnderNewKeyAlready ? ' and the secrets' : ''} were under the new key already (run rotate-key again for another new key)`
    : '';
  const unreadable = r.unreadable
    ? `\n${r.unreadable} upstream authorization(s) or pending verifier(s) open with neither key (another key's, or damaged): left as they are; authorize those again`
    : '';
  return `${line}${resumed}${unreadable}`;
}

type RevokeOpts = {
  reason: string;
  by?: string;
  timeout: string;
  allowUnknown?: boolean;
  config: string;
  json?: boolean;
};

function registerCredentialsRevoke(creds: Command, ctx: CliContext): void {
  creds
    .command('revoke')
    .description(
      'stop using a credential everywhere at once, and confirm it: waits until every live gateway has stopped serving it',
    )
    .argument('<reference>', 'as configured (with {tenant}: every tenant) or expanded (one tenant)')
    .requiredOption('--reason <text>', 'why (recorded)')
    .option('--by <name>', 'who (recorded); default: cli:<user>@<host>')
    .option('--timeout <seconds>', 'how long to wait for the confirmation', '30')
    .option('--allow-unknown', 'a reference no configured server uses (yet)')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((ref: string, opts: RevokeOpts) => revokeCredential(ctx, ref, opts));
}

type RevokeResult = { ref: string; revokedAt: string } & Confirmation;

/** Revokes `ref`, then waits until every live gateway has acknowledged it (or stopped answering), or the timeout passes. */
async function revokeAndConfirm(
  s: Store,
  stateDir: string,
  ref: string,
  by: string,
  opts: RevokeOpts,
): Promise<RevokeResult> {
  const at = Date.now();
  await s.revocations.revoke({ ref, reason: opts.reason.slice(0, 500), revokedBy: by, revokedAt: at });
  await recordAdmin(s, stateDir, by, 'credentials.revoke', { ref, reason: opts.reason });
  const live = await s.revocations.live(LIVE_MS);
  const wait = waiting(opts.json);
  try {
    const c = await confirmed(live, () => s.revocations.acks(ref), {
      at,
      timeoutMs: Number(opts.timeout) * 1000,
      onWait: wait.onWait,
      stillLive: liveNow(s.revocations),
    });
    const detail = confirmedDetail(ref, c);
    if (detail) await recordAdmin(s, stateDir, by, 'credentials.confirmed', detail);
    return { ref, revokedAt: new Date(at).toISOString(), ...c };
  } finally {
    wait.end();
  }
}

async function revokeCredential(ctx: CliContext, ref: string, opts: RevokeOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  // A misspelt reference would be confirmed revoked while the real one stays in use.
  if (!opts.allowUnknown && !serversUsing(config.servers, ref).length)
    ctx.fail(
      `no configured server uses \`${ref}\`${nearestRef(config.servers, ref)}: check the name (\`--allow-unknown\` revokes it anyway)`,
      2,
    );
  const by = actorName(opts.by);
  const result = await withStore(config, (s) => revokeAndConfirm(s, config.gateway.stateDir, ref, by, opts));
  if (opts.json) process.stdout.write(jsonText(result));
  else {
    process.stdout.write(`${confirmationText(`revoked ${ref}`, result, opts.timeout, 'stopped serving it')}\n`);
  }
  process.exitCode = result.confirmed ? 0 : 1;
}

type RestoreOpts = { reason?: string; by?: string; config: string; json?: boolean };

function registerCredentialsRestore(creds: Command, ctx: CliContext): void {
  creds
    .command('restore')
    .description('lift a revocation (after the secret was replaced in its manager)')
    .argument('<reference>')
    .option('--reason <text>', 'why (recorded), as a revocation records its own')
    .option('--by <name>', 'who (recorded)')
    .addOption(ctx.configOption())
    .option('--json', 'print the result as JSON')
    .action((ref: string, opts: RestoreOpts) => restoreCredential(ctx, ref, opts));
}

async function restoreCredential(ctx: CliContext, ref: string, opts: RestoreOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const had = await withStore(config, async (s) => {
    const r = await s.revocations.restore(ref);
    const reason = opts.reason?.slice(0, 500);
    if (r)
      await recordAdmin(s, config.gateway.stateDir, actorName(opts.by), 'credentials.restore', {
        ref,
        ...(reason ? { reason } : {}),
      });
    return r;
  });
  if (!had) ctx.fail(`\`${ref}\` is not revoked`, 2);
  done(opts, { restored: ref }, `restored ${ref}`);
}

function registerCredentialsList(creds: Command, ctx: CliContext): void {
  creds
    .command('list')
    .description('revoked credentials: who, when, why')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .action((opts: ListOpts) => listRevokedCredentials(ctx, opts));
}

async function listRevokedCredentials(ctx: CliContext, opts: ListOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const rows = await withStore(config, (s) => s.revocations.list());
  if (opts.json) return void process.stdout.write(jsonText({ revoked: rows }));
  process.stdout.write(
    render(
      'table',
      ['reference', 'revoked by', 'at', 'reason'],
      rows.map((r) => [r.ref, r.revokedBy, new Date(r.revokedAt).toISOString(), r.reason]),
      null,
    ),
  );
}

/** A command's result: `json` as one JSON document with --json, else the line `text`. */
function done(opts: { json?: boolean }, json: Record<string, unknown>, text: string): void {
  process.stdout.write(opts.json ? jsonText(json) : `${text}\n`);
}

/** `: did you mean ...?` for the configured reference nearest to `ref`, or nothing. */
function nearestRef(servers: Config['servers'], ref: string): string {
  const refs = servers.flatMap((s) => [
    ...credentialRefs(s),
    ...(s.transport !== 'stdio' && s.oauth ? [`oauth:${s.name}`] : []),
  ]);
  const near = suggest(ref, [...new Set(refs)], 3);
  return near ? ` (did you mean \`${near}\`?)` : '';
}
