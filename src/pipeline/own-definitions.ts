/**
 * Tools and prompts of a server whose connections differ by tenant (a credential reference naming
 * `{tenant}`, or upstream OAuth per tenant or user). The catalogue lists them from the discovery
 * owner's connection, and the inventory pinned and reviewed those definitions; another owner's calls
 * run on its own connection, which may list other tools, or the same names defined otherwise (a
 * narrower token, or a server that shows each tenant something else). So what that owner is shown and
 * may call is what both say alike: a catalogue item its own connection lists with the same definition
 * as clients see it (scrubbed of every tenant's injected secrets, so a definition that names its own
 * tenant's credential matches). Anything else is not shown; a call of a name its connection does not
 * list is a call of an unknown tool, and of a name it defines otherwise is refused before anything is
 * forwarded (`connect`): the upstream would run a definition nobody reviewed.
 */
import { discoveryTenant, connectionOwner, variesByOwner } from '../credentials/broker.ts';
import { callerToken } from '../identity/authenticator.ts';
import { itemPin, toolPin } from '../inventory/canonical.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { RequestContext } from '../gateway/context.ts';
import { connectionListing } from './own-resources.ts';
import type { PipelineDeps } from './types.ts';

export type DefinitionKind = 'tools' | 'prompts';
type Deps = Pick<PipelineDeps, 'catalog' | 'credentials'>;

/** Whether `principal` reaches `server` on a connection other than the catalogue's whose definitions may differ. */
export function foreignDefinitions(
  deps: Pick<Deps, 'credentials'>,
  server: string,
  principal: RequestContext['principal'],
): boolean {
  const cfg = deps.credentials.configOf(server);
  return (
    cfg !== undefined &&
    variesByOwner(cfg) &&
    connectionOwner(cfg, principal.tenant, principal.subject) !== discoveryTenant(cfg)
  );
}

/** The pin of a definition as clients see it: scrubbed of every injected secret known (and `extra`). */
function shownPin(deps: Deps, kind: DefinitionKind, def: JsonObject, extra: readonly string[] = []): string {
  const shown = deps.credentials.scrubber.value(def, extra);
  return kind === 'tools' ? toolPin(shown) : itemPin(shown);
}

/** Per listing (while its connection keeps it) and scrubber revision: each name's shown pin. */
const pinsOf = new WeakMap<JsonObject[], { revision: number; pins: Map<string, string> }>();

/** Whether `up` lists `name` (as the server names it) with the catalogue's definition, as clients see both. */
async function listsAlike(
  deps: Deps,
  up: Upstream,
  injected: readonly string[],
  kind: DefinitionKind,
  server: string,
  name: string,
): Promise<'alike' | 'absent' | 'differs'> {
  const items = await connectionListing(up, kind);
  const revision = deps.credentials.scrubber.revision;
  let kept = pinsOf.get(items);
  if (kept?.revision !== revision) {
    const pins = new Map<string, string>();
    for (const def of items) if (typeof def.name === 'string') pins.set(def.name, shownPin(deps, kind, def, injected));
    kept = { revision, pins };
    pinsOf.set(items, kept);
  }
  const mine = kept.pins.get(name);
  if (mine === undefined) return 'absent';
  const def = deps.catalog.resolve(kind, name, server)?.def;
  return def && cataloguePin(deps, kind, def, revision) === mine ? 'alike' : 'differs';
}

/** Per catalogue definition (replaced when the catalogue is) and scrubber revision: its shown pin. */
const cataloguePins = new WeakMap<JsonObject, { revision: number; pin: string }>();

function cataloguePin(deps: Deps, kind: DefinitionKind, def: JsonObject, revision: number): string {
  let kept = cataloguePins.get(def);
  if (kept?.revision !== revision) {
    kept = { revision, pin: shownPin(deps, kind, def) };
    cataloguePins.set(def, kept);
  }
  return kept.pin;
}

/**
 * For a call of a tool or prompt on the caller's own connection (`connect`), where that connection
 * is not the catalogue's (`foreignDefinitions`): refused unless it lists it with the catalogue's
 * definition. Not listed: unknown, as for any name that is not there; listed otherwise: refused and
 * recorded, with nothing forwarded.
 */
export async function checkOwnDefinition(
  deps: Deps,
  call: { kind: DefinitionKind; server: string; name: string; requested: string },
  held: { up: Upstream; values: readonly string[] },
): Promise<void> {
  const verdict = await listsAlike(deps, held.up, held.values, call.kind, call.server, call.name);
  const what = call.kind === 'tools' ? 'tool' : 'prompt';
  if (verdict === 'absent')
    throw new GatehouseError(
      call.kind === 'tools' ? 'E_UNKNOWN_TOOL' : 'E_UNKNOWN_PROMPT',
      `unknown ${what} ${quote(call.requested)}`,
    );
  if (verdict === 'differs')
    throw new GatehouseError(
      'E_TOOL_QUARANTINED',
      `${what} ${quote(call.requested)} is defined otherwise on your tenant's connection than the definition an operator reviewed: refused until both agree`,
    );
}

/**
 * For a listing: the names (as `server` calls them) of the catalogue's items that the caller's own
 * connection lists alike. None when that connection cannot be made or listed.
 */
export async function alikeNames(
  ctx: RequestContext,
  server: string,
  kind: DefinitionKind,
  deps: Deps,
): Promise<Set<string>> {
  const alike = new Set<string>();
  const cfg = deps.credentials.configOf(server);
  if (!cfg) return alike;
  const p = ctx.principal;
  try {
    const held = await deps.credentials.pool.get(cfg, p.tenant, p.subject, callerToken(p));
    for (const def of await connectionListing(held.up, kind)) {
      const name = def.name;
      if (typeof name === 'string' && (await listsAlike(deps, held.up, held.values, kind, server, name)) === 'alike')
        alike.add(name);
    }
  } catch {
    // The rest of the listing stands; this server's items are not shown to this caller.
  }
  return alike;
}
