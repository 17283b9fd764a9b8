/**
 * Change notifications to callers: list_changed fan-out to legacy sessions (on their GET stream)
 * and to modern `subscriptions/listen` streams that opted in to that type; resource updates to the
 * sessions subscribed to that URI. Only the types a listener asked for are ever sent to it, and a
 * change to a server's list only to callers who may see something of that server, before or after
 * the change, and a change of modes or policy only to callers whose own view changed: a caller of one
 * tenant never hears when another tenant's server or settings change. What a server says outside any
 * call (a log message, a resource update, a change of a connection's own listing) reaches a caller only
 * while it may still see that server (that resource) under the settings in force (notice-audience.ts).
 */
import type { ServerResponse } from 'node:http';
import { META } from '../protocol/era.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcNotification, JsonRpcRequest, RequestId } from '../protocol/jsonrpc.ts';
import type { Kind } from '../catalog/catalog.ts';
import type { Principal } from '../identity/principal.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { StreamSink } from './responder.ts';
import type { RequestHold } from '../util/request-budget.ts';
import { namespaceUri } from '../catalog/uris.ts';
import { ANONYMOUS_KEY } from '../identity/principal.ts';
import { sessionOwnedBy } from '../sessions/owner.ts';
import { admitsLevel } from '../protocol/log-levels.ts';
import { EVERYONE, type NoticeAudience } from './notice-audience.ts';
import { supportsNotification } from '../pipeline/endpoint-capabilities.ts';

interface Listener {
  id: RequestId;
  scope: string;
  /** Whose stream it is: its key (`anonymous` for the anonymous loopback caller) and tenant count against the caps; its visibility decides which servers' changes it hears. */
  who: Principal;
  filter: { toolsListChanged?: boolean; promptsListChanged?: boolean; resourcesListChanged?: boolean };
  sink: StreamSink;
  /** Its `resourceSubscriptions`, as subscribed through the pipeline (`server\0uri`: listen-resources.ts). */
  resources: Set<string>;
}

/** A listen stream's `resourceSubscriptions`: the keys subscribed, the URIs acknowledged, and what its end undoes. */
export interface ListenResources {
  subscriptions: Set<string>;
  acknowledged: string[];
  closed: () => void;
}

const FILTER_FOR: Record<Kind, keyof Listener['filter']> = {
  tools: 'toolsListChanged',
  prompts: 'promptsListChanged',
  resources: 'resourcesListChanged',
  resourceTemplates: 'resourcesListChanged',
};
const METHOD_OF: Record<keyof Listener['filter'], string> = {
  toolsListChanged: 'notifications/tools/list_changed',
  promptsListChanged: 'notifications/prompts/list_changed',
  resourcesListChanged: 'notifications/resources/list_changed',
};
const MAX_LISTENERS = 10_000;
/** How long changes are gathered before callers are told (one notification per type). */
const COALESCE_MS = 25;
/** The longest the visibility tests of one announcement run before the event loop gets a turn. */
const SLICE_MS = 5;

/** Who may see what: a caller hears of a server's change when it may see an item listed before or after it. */
export interface Visibility {
  /** The items of `kind` that `server` lists now, as it names them. */
  listed(kind: Kind, server: string): readonly JsonObject[];
  /** Whether `who` may see any of `items` (of `kind`, as `server` names them). */
  seesAny(who: Principal, server: string, kind: Kind, items: readonly JsonObject[]): boolean;
  /** All the tests read of a caller: callers with the same key get the same answers. */
  key(who: Principal): string;
}

/** A caller on the endpoint `scope` (`''`: the aggregate) whose own view of a kind changed. */
type ViewDiffers = (who: Principal, scope: string) => boolean;

type Change =
  | {
      kind: Kind;
      /** The server whose list changed. */
      server: string;
      /** The items as they were before the first change gathered into this announcement. */
      before: readonly JsonObject[];
      /** `before` and what is listed now: who may see any of them hears (found once, when first needed). */
      items?: readonly JsonObject[];
    }
  | {
      kind: Kind;
      /** What callers may see changed (modes, policy): each caller hears when its own view did. */
      differs: ViewDiffers;
    };

/** Listen streams one principal, and one tenant, may hold open in this process. */
export interface ListenCaps {
  perPrincipal: number;
  perTenant: number;
}

export class Subscriptions {
  readonly #sessions: Sessions;
  readonly #caps: () => ListenCaps;
  readonly #visibility: Visibility;
  readonly #audience: NoticeAudience;
  readonly #listeners = new Set<Listener>();
  readonly #pending = new Map<string, Change>();
  #flush: NodeJS.Timeout | undefined;

  constructor(
    sessions: Sessions,
    caps: () => ListenCaps = () => ({ perPrincipal: 10, perTenant: 1000 }),
    visibility: Visibility = { listed: () => [], seesAny: () => true, key: (who) => who.key },
    audience: NoticeAudience = EVERYONE,
  ) {
    this.#sessions = sessions;
    this.#caps = caps;
    this.#visibility = visibility;
    this.#audience = audience;
  }

  /**
   * Open a modern listen stream: acknowledge what we honour, then keep it open. One principal cannot
   * take its tenant's share of streams, nor one tenant another's: past a cap the request is refused
   * (`E_RATE_LIMITED`, naming the cap) before anything is written.
   */
  /** Opens the stream (the sink, or undefined when refused for the gateway's cap). */
  listen(
    res: ServerResponse,
    req: JsonRpcRequest,
    scope: string,
    who: Principal,
    hold?: RequestHold,
    declared?: JsonObject,
    resources?: ListenResources,
  ): StreamSink | undefined {
    try {
      this.admit(who);
    } catch (err) {
      resources?.closed(); // refused past a cap: what was subscribed for it ends (walk CC)
      throw err;
    }
    const asked = ((req.params?.notifications ?? {}) as JsonObject) || {};
    // Only the types asked for that the endpoint supports (`declared`: a server's own endpoint's capabilities).
    const honoured = (type: string) => (asked[type] === true && supportsNotification(type, declared)) || undefined;
    const filter: Listener['filter'] = {
      toolsListChanged: honoured('toolsListChanged'),
      promptsListChanged: honoured('promptsListChanged'),
      resourcesListChanged: honoured('resourcesListChanged'),
    };
    if (this.#listeners.size >= MAX_LISTENERS) {
      res.writeHead(503).end();
      resources?.closed();
      return undefined;
    }
    const l: Listener = {
      id: req.id,
      scope,
      who,
      filter,
      sink: undefined as unknown as StreamSink,
      resources: resources?.subscriptions ?? new Set(),
    };
    l.sink = new StreamSink(
      res,
      {},
      () => {
        this.#listeners.delete(l);
        resources?.closed();
      },
      hold,
    );
    this.#listeners.add(l);
    const ack: JsonObject = {};
    for (const [k, v] of Object.entries(filter)) if (v) ack[k] = true;
    if (resources?.acknowledged.length) ack.resourceSubscriptions = resources.acknowledged;
    l.sink.send({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: ack, _meta: { [META.subscriptionId]: req.id } },
    });
    return l.sink;
  }

  /** The listen streams' resource subscriptions, whose (principal key) each is: a connection's upstream subscription is shared by them. */
  *subscribers(): Generator<{ subscriptions: ReadonlySet<string>; principal: string }> {
    for (const l of this.#listeners) if (l.resources.size) yield { subscriptions: l.resources, principal: l.who.key };
  }

  /**
   * Holds `who`'s place while its listen's resources are subscribed (listen-resources.ts, up to 64
   * upstream subscriptions): parallel listens count against the caps before any is made (walk CC:
   * each passed the cap, subscribed, and was refused only after). Refused past a cap; the place is
   * given back by the function returned.
   */
  reserve(who: { key: string; tenant: string }): () => void {
    this.admit(who);
    const place = { who };
    this.#reserved.add(place);
    return () => this.#reserved.delete(place);
  }
  readonly #reserved = new Set<{ who: { key: string; tenant: string } }>();

  /** Refuses a stream past the caller's or its tenant's cap (the anonymous loopback caller has only its tenant's). */
  admit(who: { key: string; tenant: string }): void {
    const caps = this.#caps();
    let tenant = 0;
    let mine = 0;
    for (const l of [...this.#listeners, ...this.#reserved]) {
      if (l.who.tenant !== who.tenant) continue;
      tenant++;
      if (l.who.key === who.key) mine++;
    }
    if (tenant >= caps.perTenant)
      throw new GatehouseError(
        'E_RATE_LIMITED',
        `too many open listen streams in tenant ${quote(who.tenant)} (at most ${caps.perTenant}): close some first`,
        { retryAfterMs: 10_000, cap: 'tenant' },
      );
    if (who.key !== ANONYMOUS_KEY && mine >= caps.perPrincipal)
      throw new GatehouseError(
        'E_RATE_LIMITED',
        `too many open listen streams for you (at most ${caps.perPrincipal}): close some first`,
        { retryAfterMs: 10_000, cap: 'principal' },
      );
  }

  /**
   * The catalogue of `server` changed (`before`: its items of that kind before): tell every caller of
   * an endpoint that shows it (the aggregate endpoint, or that server's own), asked to know and may
   * see something of it, once; the notification names no server. One change is often reported twice
   * (the catalogue, then the inventory recording it; a resource list and its templates), so changes
   * are gathered for a moment and each caller hears of each type once.
   */
  listChanged(kind: Kind, server: string, before: readonly JsonObject[] = []): void {
    const key = `${kind}\u0000${server}`;
    if (!this.#pending.has(key)) this.#pending.set(key, { kind, server, before });
    this.#schedule();
  }

  /**
   * What callers may see of `kind` changed (modes, policy; the catalogue the same): each caller with a
   * stream whose own view changed (`differs`, asked once per visibility key and endpoint) hears once.
   * Changes gathered together are heard by a caller whose view any of them changed.
   */
  viewChanged(kind: Kind, differs: ViewDiffers): void {
    const key = `${kind}\u0000`;
    const pending = this.#pending.get(key);
    const earlier = pending && 'differs' in pending ? pending.differs : undefined;
    this.#pending.set(key, {
      kind,
      differs: earlier ? (who, scope) => earlier(who, scope) || differs(who, scope) : differs,
    });
    this.#schedule();
  }

  #schedule(): void {
    // A visibility test that throws tells nobody of this change (never everyone).
    this.#flush ??= setTimeout(() => void this.#announce().catch(() => {}), COALESCE_MS);
    this.#flush.unref?.();
  }

  /**
   * Who may see what is decided first, once per caller and change, with a turn of the event loop
   * every few milliseconds (many callers that see nothing of a large server each test every item:
   * that must not stall every call); then each caller that may hears of each type once. A stream
   * opened meanwhile hears of the next change.
   */
  async #announce(): Promise<void> {
    this.#flush = undefined;
    const changes = [...this.#pending.values()];
    this.#pending.clear();
    const keys = new Map<Principal, string>();
    const keyOf = (who: Principal): string => {
      const known = keys.get(who);
      if (known !== undefined) return known;
      const key = this.#visibility.key(who);
      keys.set(who, key);
      return key;
    };
    const shows = (scope: string, c: Change) => 'differs' in c || scope === '' || scope === c.server;
    const verdictKey = (who: Principal, scope: string, c: Change) =>
      'differs' in c
        ? `${keyOf(who)}\u0000${c.kind}\u0000\u0000${scope}`
        : `${keyOf(who)}\u0000${c.kind}\u0000${c.server}`;
    const verdicts = new Map<string, boolean>();
    let slice = performance.now();
    for (const { scope, who, filter } of this.#callers()) {
      for (const c of changes) {
        const key = verdictKey(who, scope, c);
        // A legacy session hears every type; a listen stream only those it asked for.
        if (!shows(scope, c) || (filter && !filter[FILTER_FOR[c.kind]]) || verdicts.has(key)) continue;
        verdicts.set(key, this.#decide(c, who, scope));
        if (performance.now() - slice < SLICE_MS) continue;
        await new Promise((resolve) => setImmediate(resolve));
        slice = performance.now();
      }
    }
    const mayHear = (scope: string, who: Principal | undefined, c: Change): boolean =>
      who !== undefined && shows(scope, c) && verdicts.get(verdictKey(who, scope, c)) === true;
    for (const type of new Set(changes.map((c) => FILTER_FOR[c.kind])))
      this.#tell(type, (scope, _principal, who) =>
        changes.some((c) => FILTER_FOR[c.kind] === type && mayHear(scope, who, c)),
      );
  }

  /** Whether `who`, on the endpoint `scope`, hears of `c`. */
  #decide(c: Change, who: Principal, scope: string): boolean {
    if ('differs' in c) return c.differs(who, scope);
    c.items ??= [...c.before, ...this.#visibility.listed(c.kind, c.server)];
    return this.#visibility.seesAny(who, c.server, c.kind, c.items);
  }

  /** Every caller with a stream that hears list changes, with its endpoint (and a listen stream's types). */
  *#callers(): Generator<{ scope: string; who: Principal; filter?: Listener['filter'] }> {
    for (const s of this.#sessions.all())
      if (s.stream && s.streamOwner) yield { scope: s.record.scope, who: s.streamOwner };
    for (const l of this.#listeners) yield { scope: l.scope, who: l.who, filter: l.filter };
  }

  /**
   * What `server` lists of `kind` on the connection of `owner` (a tenant, or `tenant/user`) changed,
   * where each owner is shown its own: only that owner's sessions and listen streams hear of it, and
   * of them only callers who may still see something of that server.
   */
  ownListChanged(server: string, owner: string, kind: Kind): void {
    const sees = this.#seesServer(server);
    this.#tell(
      FILTER_FOR[kind],
      (scope, principal, who) =>
        (scope === '' || scope === server) && sessionOwnedBy(principal, owner) && who !== undefined && sees(who),
    );
  }

  /**
   * Whether a caller may hear what `server` says outside any call: asked once per visibility key of
   * one notice's hearers (each answer is kept per key across notices too: listings.ts `heardOf`).
   */
  #seesServer(server: string): (who: Principal) => boolean {
    const verdicts = new Map<string, boolean>();
    return (who) => {
      const key = this.#visibility.key(who);
      let v = verdicts.get(key);
      if (v === undefined) {
        v = this.#audience.server(who, server);
        verdicts.set(key, v);
      }
      return v;
    };
  }

  /** Sends a `type` change to the sessions' streams and the listen streams that asked for it whose endpoint and caller `hears`. */
  #tell(
    type: keyof Listener['filter'],
    hears: (scope: string, principal: string | null, who: Principal | undefined) => boolean,
  ): void {
    const method = METHOD_OF[type];
    for (const s of this.#sessions.all())
      if (s.stream && hears(s.record.scope, s.record.principal, s.streamOwner))
        s.stream.send({ jsonrpc: '2.0', method });
    for (const l of this.#listeners)
      if (l.filter[type] && hears(l.scope, l.who.key, l.who))
        l.sink.send({ jsonrpc: '2.0', method, params: { _meta: { [META.subscriptionId]: l.id } } });
  }

  /**
   * An upstream says a resource changed, on the connection of `owner` (a tenant, or `tenant/user`):
   * only that tenant's (user's) sessions subscribed to that URI of that server hear of it, under the
   * URI they subscribed with (namespaced on the aggregate endpoint), and of them only callers who may
   * still see that resource (a policy reload, a mode or a revocation since they subscribed).
   */
  resourceUpdated(server: string, owner: string, n: JsonRpcNotification): void {
    const uri = n.params?.uri;
    if (typeof uri !== 'string') return;
    const key = `${server}\u0000${uri}`;
    const verdicts = new Map<string, boolean>();
    const sees = (who: Principal) => {
      const k = this.#visibility.key(who);
      if (!verdicts.has(k)) verdicts.set(k, this.#audience.resource(who, server, uri));
      return verdicts.get(k) === true;
    };
    for (const s of this.#sessions.all()) {
      if (!s.stream || !s.subscriptions.has(key) || (s.record.scope !== '' && s.record.scope !== server)) continue;
      if (!sessionOwnedBy(s.record.principal, owner) || !s.streamOwner || !sees(s.streamOwner)) continue;
      s.stream.send({
        jsonrpc: '2.0',
        method: 'notifications/resources/updated',
        params: { uri: s.record.scope ? uri : namespaceUri(server, uri) },
      });
    }
    // 2026-07-28: the listen streams that named the URI in `resourceSubscriptions`, on the same terms.
    for (const l of this.#listeners) {
      if (!l.resources.has(key) || (l.scope !== '' && l.scope !== server)) continue;
      if (!sessionOwnedBy(l.who.key, owner) || !sees(l.who)) continue;
      l.sink.send({
        jsonrpc: '2.0',
        method: 'notifications/resources/updated',
        params: { uri: l.scope ? uri : namespaceUri(server, uri), _meta: { [META.subscriptionId]: l.id } },
      });
    }
  }

  /**
   * A log message an upstream said outside any call, on the connection of `owner` (a tenant, or
   * `tenant/user`), already scrubbed: only that owner's legacy sessions on the aggregate endpoint or
   * that server's, whose `logging/setLevel` admits its level and whose caller may still see something
   * of that server, hear it (nothing but its params). A 2026-07-28 caller hears log messages only
   * during its own requests (ADR 0011).
   */
  logMessage(server: string, owner: string, n: JsonRpcNotification): void {
    const sees = this.#seesServer(server);
    for (const s of this.#sessions.all()) {
      if (!s.stream || s.logLevel === undefined || (s.record.scope !== '' && s.record.scope !== server)) continue;
      if (!sessionOwnedBy(s.record.principal, owner) || !admitsLevel(s.logLevel, n.params?.level)) continue;
      if (!s.streamOwner || !sees(s.streamOwner)) continue;
      s.stream.send({ jsonrpc: '2.0', method: 'notifications/message', params: n.params ?? {} });
    }
  }

  close(): void {
    clearTimeout(this.#flush);
    this.#flush = undefined;
    this.#pending.clear();
    for (const l of this.#listeners) l.sink.close();
    this.#listeners.clear();
  }
}
