/**
 * The incident playbook on the admin API, the same steps as `gatehouse incident`:
 *
 *   GET  incidents[?status=open|closed]     list (newest first)
 *   GET  incidents/<id>                     one, with its action log
 *   POST incidents                          {title, reason, tool|server|tenant|principal, since?, allowUnknown?, unseen?}: contain, confirmed, open
 *   POST incidents/<id>/revoke              revoke what the scope used, confirmed
 *   POST incidents/<id>/notify              tell the owners (SMTP from the gateway's $GATEHOUSE_SMTP_URL and $GATEHOUSE_SMTP_FROM)
 *   POST incidents/<id>/close               {note?, lift?}
 *   POST incidents/<id>/export              the evidence bundle as JSON ({manifest, files}); platform admins only
 *
 * A platform admin may do all of it. A tenant admin sees its own tenant's incidents only (another's
 * looks like none), revokes and notifies on them, closes only those its tenant's admins opened (one
 * the platform or the CLI opened is the platform's to close: authority.ts), and may open one only
 * for its own tenant (`tenant`): disabling a tool or server, or revoking a person at every issuer,
 * reaches beyond one tenant. The evidence bundle
 * (`gatehouse incident export` writes it to a folder) is answered as JSON to platform admins only: it
 * holds store-wide state (the inventory, every revocation, the chain verification). Written to a
 * private temporary folder, read back whole, and removed.
 */
import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import type { AdminScope } from '../identity/authenticator.ts';
import type { Principal } from '../identity/principal.ts';
import { parseTime } from '../audit/timeline.ts';
import {
  checkTarget,
  closeIncident,
  getIncident,
  IncidentError,
  openIncident,
  SCOPE_KINDS,
  validId,
  type Actor,
} from '../incident/incident.ts';
import { revokeIncident } from '../incident/revoke.ts';
import { notifyIncident } from '../incident/notify.ts';
import { exportBundle } from '../incident/bundle.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdminDeps } from './admin-deps.ts';
import { adminError } from './admin-errors.ts';
import { readBody } from './guards.ts';
import { mayUndo, setterName } from '../incident/authority.ts';

const str = (v: unknown, max = 1024): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;

async function body(req: IncomingMessage, usage: string): Promise<Record<string, unknown>> {
  const text = await readBody(req, 16 * 1024);
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new GatehouseError('E_INVALID_PARAMS', `invalid params: send ${usage}`);
}

/** The admin as incident records name it: with the kind of admin, which decides who may undo what it set. */
function actorOf(admin: Principal, scope: AdminScope, deps: AdminDeps): Actor {
  const actor = { subject: admin.subject, tenant: admin.tenant, via: admin.via, issuer: admin.issuer };
  return {
    name: setterName({ subject: admin.subject, tenant: admin.tenant, platform: scope.platform }),
    record: async (action, detail) =>
      void (await deps.record({ kind: 'admin.action', actor, detail: { action, ...detail } })),
  };
}

export async function handleIncidents(
  req: IncomingMessage,
  path: string,
  query: URLSearchParams,
  admin: Principal,
  scope: AdminScope,
  deps: AdminDeps,
): Promise<{ status: number; body: unknown }> {
  const tenant = scope.platform ? undefined : scope.tenant;
  try {
    if (path === 'incidents' && req.method === 'GET') {
      const status = query.get('status');
      if (status !== null && status !== 'open' && status !== 'closed')
        throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: `status` is open or closed');
      return {
        status: 200,
        body: { incidents: await deps.store.incidents.list({ status: status ?? undefined, tenant }) },
      };
    }
    if (path === 'incidents' && req.method === 'POST') return await openFromApi(req, admin, scope, deps);
    const m = /^incidents\/([^/]{1,64})(?:\/(revoke|notify|close|export))?$/.exec(path);
    if (!m || !validId(m[1])) return { status: 404, body: adminError('not_found', 'not found') };
    const id = m[1];
    if (!m[2]) {
      if (req.method !== 'GET') throw new GatehouseError('E_METHOD_NOT_ALLOWED');
      return { status: 200, body: await getIncident(deps.store, id, tenant) };
    }
    if (req.method !== 'POST') throw new GatehouseError('E_METHOD_NOT_ALLOWED');
    const actor = actorOf(admin, scope, deps);
    if (m[2] === 'revoke')
      return {
        status: 200,
        body: await revokeIncident(deps.store, deps.config, actor, id, {
          tenant,
          spareKey: admin.via === 'api-key' ? admin.client : undefined,
        }),
      };
    // Where mail goes is the gateway operator's setting, never the caller's: no host from the request is dialled.
    if (m[2] === 'notify')
      return { status: 200, body: await notifyIncident(deps.store, deps.config, actor, id, { tenant }) };
    if (m[2] === 'export') {
      await getIncident(deps.store, id, tenant); // another tenant's looks like none
      if (tenant !== undefined)
        throw new GatehouseError(
          'E_FORBIDDEN',
          'forbidden: the evidence bundle holds store-wide state: a platform admin exports it',
        );
      const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bundle-'));
      try {
        const r = await exportBundle(deps.store, deps.config, actor, id, join(dir, 'bundle'));
        const files: Record<string, string> = {};
        for (const name of Object.keys(r.manifest.files))
          files[name] = await readFile(join(dir, 'bundle', name), 'utf8');
        return {
          status: 200,
          body: {
            incident: id,
            records: r.records,
            stubs: r.stubs,
            truncated: r.truncated,
            manifest: r.manifest,
            keys: r.keys,
            files,
          },
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const input = await body(req, '{"note": "...", "lift": true|false} (both optional)');
    // A tenant admin closes (and lifts) only what its tenant's admins opened, never the platform's.
    const r = await getIncident(deps.store, id, tenant);
    if (!mayUndo({ tenant: admin.tenant, platform: scope.platform }, r.tenant, r.openedBy))
      throw new GatehouseError(
        'E_FORBIDDEN',
        `forbidden: incident \`${id}\` was opened by ${r.openedBy}: only a platform admin closes it`,
      );
    return {
      status: 200,
      body: await closeIncident(deps.store, actor, id, {
        tenant,
        note: str(input.note, 500),
        lift: input.lift === true,
        announce: deps.announce,
      }),
    };
  } catch (err) {
    if (!(err instanceof IncidentError)) throw err;
    if (err.code === 'not_found') return { status: 404, body: adminError('not_found', 'not found') };
    if (err.code === 'conflict') return { status: 409, body: adminError('conflict', err.message) };
    throw new GatehouseError(
      err.code === 'forbidden' ? 'E_FORBIDDEN' : 'E_INVALID_PARAMS',
      `${err.code === 'forbidden' ? 'forbidden' : 'invalid params'}: ${err.message}`,
    );
  }
}

/** POST incidents: open one, contained at once (a tenant admin: its own tenant only). */
async function openFromApi(
  req: IncomingMessage,
  admin: Principal,
  scope: AdminScope,
  deps: AdminDeps,
): Promise<{ status: number; body: unknown }> {
  const tenant = scope.platform ? undefined : scope.tenant;
  const usage =
    '{"title", "reason", and one of "tool", "server", "tenant", "principal"; "since": "1h", "allowUnknown": true, "unseen": true (optional)}';
  const input = await body(req, usage);
  const kinds = SCOPE_KINDS.filter((k) => input[k] !== undefined);
  const title = str(input.title, 300);
  const reason = str(input.reason, 500);
  const value = kinds.length === 1 ? str(input[kinds[0]]) : undefined;
  const windowStart = typeof input.since === 'string' ? parseTime(input.since) : undefined;
  if (!title || !reason || !value || (input.since !== undefined && windowStart === undefined))
    throw new GatehouseError('E_INVALID_PARAMS', `invalid params: send ${usage}`);
  if (tenant !== undefined && (kinds[0] !== 'tenant' || value !== tenant))
    throw new GatehouseError(
      'E_FORBIDDEN',
      `forbidden: your admin role covers tenant \`${tenant}\` only: open an incident for {"tenant": "${tenant}"}, or ask a platform admin`,
    );
  // Opening replaces the tenant's mode: a tenant admin never replaces (then lifts) one the platform set.
  if (tenant !== undefined) {
    const current = (await deps.store.modes.list()).find((x) => x.scope === `tenant:${tenant}`);
    if (current && !mayUndo({ tenant, platform: false }, tenant, current.setBy))
      throw new GatehouseError(
        'E_FORBIDDEN',
        `forbidden: tenant:${tenant} is already ${current.mode} (set by ${current.setBy}): ask a platform admin`,
      );
  }
  const r = await openIncident(deps.store, actorOf(admin, scope, deps), {
    title,
    reason,
    scope: await checkTarget(deps.store, deps.config, kinds[0], value, {
      allowUnknown: input.allowUnknown === true,
      howToAllow: '"allowUnknown": true',
      // A tenant admin names its own tenant (checked above): the one it is signed in to, seen or not.
      unseen: input.unseen === true || tenant !== undefined,
      howToAllowUnseen: '"unseen": true',
      tenant,
    }),
    windowStart,
    announce: deps.announce,
  });
  return { status: 201, body: r };
}
