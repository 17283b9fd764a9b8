/**
 * `gatehouse keys create|list|revoke`: API keys for service agents and local development. A key is
 * printed once, at creation; the store keeps only its hash. Revocation takes effect on the next
 * request on every gateway sharing the store.
 */
import { personSubject } from '../identity/principal.ts';
import type { Command } from 'commander';
import { newApiKey, parseDuration } from '../identity/api-keys.ts';
import { openStore } from '../storage/index.ts';
import type { ApiKeyRecord, Store } from '../storage/types.ts';
import { reasonOption, recordAdmin, withReason } from './admin-record.ts';
import type { Config } from '../config/schema.ts';
import { actorName, type CliContext } from './context.ts';
import { jsonText, render } from './format.ts';
import { adminScopeOf, asOption, caller } from './scope.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function list(v: string | undefined): string[] {
  return (v ?? '').split(/[\s,]+/).filter(Boolean);
}

function keyState(r: ApiKeyRecord, now: number): 'revoked' | 'expired' | 'active' {
  if (r.revokedAt !== null) return 'revoked';
  if (r.expiresAt !== null && r.expiresAt <= now) return 'expired';
  return 'active';
}

/** What `list` shows: never the hash. */
function shown(r: ApiKeyRecord, now: number) {
  const state = keyState(r, now);
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: r.id,
    name: r.name,
    tenant: r.tenant,
    person: r.subject,
    roles: r.roles,
    scopes: r.scopes,
    state,
    createdAt: iso(r.createdAt),
    createdBy: r.createdBy,
    expiresAt: iso(r.expiresAt),
    lastUsedAt: iso(r.lastUsedAt),
    revokedAt: iso(r.revokedAt),
    revokedBy: r.revokedBy,
  };
}

async function withKeys<T>(config: Config, fn: (keys: Store['apiKeys'], store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config.storage);
  try {
    return await fn(store.apiKeys, store);
  } finally {
    await store.close();
  }
}

export function registerKeys(program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('API keys for service agents and local development (stored hashed)');
  registerKeysCreate(keys, ctx);
  registerKeysList(keys, ctx);
  registerKeysRevoke(keys, ctx);
}

type CreateOpts = {
  name: string;
  tenant: string;
  person?: string;
  roles: string;
  scopes?: string;
  expires: string;
  reason?: string;
  by?: string;
  config: string;
  json?: boolean;
};

function registerKeysCreate(keys: Command, ctx: CliContext): void {
  keys
    .command('create')
    .description('create a key bound to a tenant and roles; it is printed once')
    .requiredOption('-n, --name <name>', "a unique name (the key's client name in audit records)")
    .requiredOption('-t, --tenant <tenant>', 'the tenant it acts for')
    .option(
      '-p, --person <subject>',
      'the person the key acts for (their subject at your identity provider; rules name it `{ issuer: gatehouse, subject }`); a key without one is a service key and cannot approve',
    )
    .option('-r, --roles <roles>', 'comma-separated roles (e.g. agent, or gatehouse-admin for the admin api)', '')
    .option(
      '-s, --scopes <scopes>',
      'comma-separated scopes; default: those identity.requiredScopes asks of every request and of READ calls',
    )
    .option('-e, --expires <duration>', 'lifetime: 90d, 12h, 30m; `never` for no expiry', '90d')
    .addOption(reasonOption())
    .option('--by <name>', 'who creates it (recorded); default: cli:<user>@<host>')
    .addOption(ctx.configOption())
    .option('--json', 'print the key and its record as JSON')
    .action((opts: CreateOpts) => createKey(ctx, opts));
}

/**
 * The lifetime --expires gives: null for `never`; fails (exit 2) when it is no duration, or none
 * (`0d` made a key that had expired as it was printed).
 */
function lifetime(ctx: CliContext, expires: string): number | null {
  if (expires === 'never') return null;
  const ttl = parseDuration(expires);
  if (ttl === undefined) ctx.fail(`\`--expires ${expires}\` is not a duration like 90d, 12h or 30m (or \`never\`)`, 2);
  if (ttl <= 0)
    ctx.fail(`\`--expires ${expires}\` would make a key that has already expired: give a lifetime above zero`, 2);
  return ttl;
}

/** The key's person (trimmed, by the one rule the console applies too: `personSubject`), or null. */
function checkCreateOpts(ctx: CliContext, opts: CreateOpts): string | null {
  if (!NAME.test(opts.name)) ctx.fail('`--name` must be 1-64 letters, digits, `_`, `.` or `-`', 2);
  if (!NAME.test(opts.tenant)) ctx.fail('`--tenant` must be 1-64 letters, digits, `_`, `.` or `-`', 2);
  if (opts.person === undefined) return null;
  const person = personSubject(opts.person);
  if ('subject' in person) return person.subject;
  // Shown as JSON when it has what a terminal would hide or act on.
  const plain = opts.person !== '' && opts.person === opts.person.trim() && !/[\p{Cc}\p{Cf}]/u.test(opts.person);
  const shown = plain ? opts.person : JSON.stringify(opts.person);
  return ctx.fail(`\`--person ${shown}\` ${person.refused}: give the person's subject`, 2);
}

async function createKey(ctx: CliContext, opts: CreateOpts): Promise<void> {
  const person = checkCreateOpts(ctx, opts);
  const ttl = lifetime(ctx, opts.expires);
  const config = await ctx.load(opts.config);
  const req = config.identity?.requiredScopes ?? {};
  const scopes =
    opts.scopes === undefined ? [...new Set([...(req.mcp ?? []), ...(req.READ ?? [])])] : list(opts.scopes);
  const now = Date.now();
  const { key, record } = newApiKey({
    name: opts.name,
    tenant: opts.tenant,
    subject: person,
    roles: list(opts.roles),
    scopes,
    createdAt: now,
    createdBy: actorName(opts.by),
    expiresAt: ttl === null ? null : now + ttl,
  });
  await withKeys(config, async (keys, store) => {
    if ((await keys.list()).some((k) => k.name === opts.name))
      ctx.fail(`a key named \`${opts.name}\` exists; revoke it or choose another name`, 2);
    await keys.create(record);
    await recordAdmin(store, config.gateway.stateDir, record.createdBy, 'keys.create', {
      id: record.id,
      name: record.name,
      tenant: record.tenant,
      person: record.subject,
      roles: record.roles,
      scopes: record.scopes,
      expiresAt: record.expiresAt,
      ...withReason(opts.reason),
    });
  });
  if (opts.json) return void process.stdout.write(jsonText({ key, ...shown(record, now) }));
  process.stdout.write(`${key}\n`);
  process.stderr.write(
    `created key ${record.id} (${opts.name}) for tenant ${opts.tenant}${record.roles.length ? `, roles ${record.roles.join(', ')}` : ''}${scopes.length ? `, scopes ${scopes.join(' ')}` : ''}; expires ${record.expiresAt ? new Date(record.expiresAt).toISOString() : 'never'}.\nstore it now: it cannot be shown again. use it as: Authorization: Bearer <key>\n`,
  );
  if (!config.identity)
    process.stderr.write('note: no `identity` section in this config, so the gateway does not ask for keys yet\n');
}

type ListOpts = { config: string; json?: boolean; as?: string };

function registerKeysList(keys: Command, ctx: CliContext): void {
  keys
    .command('list')
    .description('every key: tenant, roles, scopes, state, created, expires, last used (never the key)')
    .addOption(ctx.configOption())
    .option('--json', 'print as JSON')
    .addOption(asOption())
    .action((opts: ListOpts) => listKeys(ctx, opts));
}

async function listKeys(ctx: CliContext, opts: ListOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const now = Date.now();
  const rows = (
    await withKeys(config, async (keys, store) => {
      const scope = adminScopeOf(ctx, await caller(ctx, config, store, opts.as));
      return (await keys.list()).filter((k) => scope.platform || k.tenant === scope.tenant);
    })
  ).map((r) => shown(r, now));
  if (opts.json) return void process.stdout.write(jsonText({ keys: rows }));
  process.stdout.write(
    render(
      'table',
      ['id', 'name', 'tenant', 'person', 'roles', 'scopes', 'state', 'expires', 'last used'],
      // A key without a person is a service key: it acts as `apikey:<name>` and cannot approve.
      rows.map((r) => [
        r.id,
        r.name,
        r.tenant,
        r.person ?? '(service key)',
        r.roles,
        r.scopes,
        r.state,
        r.expiresAt ?? 'never',
        r.lastUsedAt ?? '',
      ]),
      null,
    ),
  );
}

type RevokeOpts = { reason?: string; by?: string; config: string; json?: boolean };

function registerKeysRevoke(keys: Command, ctx: CliContext): void {
  keys
    .command('revoke')
    .description('revoke a key by id or name: refused from the next request on')
    .argument('<key>', 'the key id or name')
    .addOption(reasonOption())
    .option('--by <name>', 'who revokes it (recorded); default: cli:<user>@<host>')
    .addOption(ctx.configOption())
    .option('--json', 'print the record as JSON')
    .action((idOrName: string, opts: RevokeOpts) => revokeKey(ctx, idOrName, opts));
}

async function revokeKey(ctx: CliContext, idOrName: string, opts: RevokeOpts): Promise<void> {
  const config = await ctx.load(opts.config);
  const r = await withKeys(config, async (keys, store) => {
    const rec = await keys.revoke(idOrName, actorName(opts.by), Date.now());
    if (rec)
      await recordAdmin(store, config.gateway.stateDir, rec.revokedBy ?? actorName(opts.by), 'keys.revoke', {
        id: rec.id,
        name: rec.name,
        revokedAt: rec.revokedAt,
        ...withReason(opts.reason),
      });
    return rec;
  });
  if (!r) ctx.fail(`no key with id or name \`${idOrName}\``, 2);
  if (opts.json) return void process.stdout.write(jsonText(shown(r, Date.now())));
  // The store returns the record as it stands after the revocation: revoked, now or before.
  if (r.revokedAt === null) ctx.fail(`key \`${idOrName}\` was not revoked`);
  process.stdout.write(`key ${r.id} (${r.name}) revoked at ${new Date(r.revokedAt).toISOString()} by ${r.revokedBy}\n`);
}
