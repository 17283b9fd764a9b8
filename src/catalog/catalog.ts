/**
 * The aggregated catalogue of every upstream's tools, prompts, resources and resource templates,
 * under stable namespaced names (`<server><sep><name>`). Listings are served from here, not fanned
 * out per call; an upstream's `list_changed` refreshes its part. Names that are invisible-character,
 * mixed-script, or look-alike collisions are left out, loudly.
 */
import { EventEmitter } from 'node:events';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Logger } from '../observability/logger.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { isItemName, nameProblem, skeleton } from './names.ts';
import { namespaceUri, splitUri } from './uris.ts';
import { templateMatcher, type TemplateMatcher } from './template.ts';
import { asciiJson } from '../util/ascii-json.ts';
import { canonicalResourceUri } from '../policy/canonical.ts';

export type Kind = 'tools' | 'prompts' | 'resources' | 'resourceTemplates';

const LIST: Record<Kind, { method: string; field: string; capability: string }> = {
  tools: { method: 'tools/list', field: 'tools', capability: 'tools' },
  prompts: { method: 'prompts/list', field: 'prompts', capability: 'prompts' },
  resources: { method: 'resources/list', field: 'resources', capability: 'resources' },
  resourceTemplates: { method: 'resources/templates/list', field: 'resourceTemplates', capability: 'resources' },
};

const MAX_PAGES = 100;
/** Far beyond any honest definition; keeps hashing, scanning and copying free of deep recursion. */
const MAX_ITEM_DEPTH = 96;

/** Whether `v` nests deeper than `max`, checked without recursion. */
function depthOver(v: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [node, d] = top;
    if (!node || typeof node !== 'object') continue;
    if (d > max) return true;
    for (const child of Object.values(node)) if (child && typeof child === 'object') stack.push([child, d + 1]);
  }
  return false;
}
const MAX_ITEMS = 10_000;

/** Every item of a kind an upstream lists, page after page (bounded: MAX_PAGES pages, MAX_ITEMS items). */
export async function listAll(up: Upstream, kind: Kind): Promise<JsonObject[]> {
  const { method, field } = LIST[kind];
  const items: JsonObject[] = [];
  let cursor: unknown;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r = await up.request(method, cursor === undefined ? undefined : { cursor }, {});
    const got = Array.isArray(r[field]) ? (r[field] as unknown[]) : [];
    for (const it of got) if (it && typeof it === 'object' && !Array.isArray(it)) items.push(it as JsonObject);
    cursor = r.nextCursor;
    if (typeof cursor !== 'string' || items.length >= MAX_ITEMS) break;
  }
  return items.slice(0, MAX_ITEMS);
}

export const ALL_KINDS: Kind[] = ['tools', 'prompts', 'resources', 'resourceTemplates'];
/**
 * Refreshes of one server start at least this far apart, and while it keeps announcing changes the
 * gap doubles, up to a minute: an upstream announcing changes in a loop costs a listing, and the
 * inventory's records of what changed, per gap (a hostile one wrote 13 MB a second into the store at a
 * fixed 200 ms). A refresh with nothing asked meanwhile ends the run of them: the next starts afresh.
 */
const REFRESH_GAP_MS = 200;
const MAX_REFRESH_GAP_MS = 60_000;

/** The refresh running for a server, and the one waiting for it (every kind asked meanwhile). */
interface Refresh {
  startedAt: number;
  /** The least time from this refresh's start to the next one's. */
  gap: number;
  next: { kinds: Set<Kind>; done: PromiseWithResolvers<void> } | undefined;
}

interface Part {
  tools: JsonObject[];
  prompts: JsonObject[];
  resources: JsonObject[];
  resourceTemplates: JsonObject[];
  templateRes: TemplateMatcher[];
}

/**
 * What the inventory does with the catalogue: record every discovery before it is published (and
 * refuse to publish when it cannot), and decide what a client may be shown of each item.
 */
export interface CatalogGate {
  observe(
    server: string,
    part: Omit<Part, 'templateRes'>,
    found: { serverInfo: unknown; protocolVersion: string; instructions: string | undefined },
    otherTools: ReadonlySet<string>,
  ): Promise<void>;
  present(server: string, kind: Kind, item: JsonObject): JsonObject | undefined;
}

export interface Resolved {
  server: string;
  /** The name the upstream knows it by. */
  name: string;
  def: JsonObject;
}

/** `changed`: the kind and server whose items changed, and the items it listed before (who could see those may need to hear). */
export class Catalog extends EventEmitter<{ changed: [Kind, string, readonly JsonObject[]] }> {
  readonly separator: string;
  readonly #upstreams: Map<string, Upstream>;
  readonly #parts = new Map<string, Part>();
  /** Each listing of resources by canonical URI (listedAt), while that listing is current. */
  readonly #canonical = new WeakMap<JsonObject[], Map<string, JsonObject[]>>();
  readonly #refreshes = new Map<string, Refresh>();
  /** When each server's last refresh began, and the gap before the next may begin. */
  readonly #last = new Map<string, { startedAt: number; gap: number }>();
  readonly #log: Logger;
  readonly #gate: CatalogGate | undefined;
  readonly #scrub: <T>(value: T) => T;
  #version = 0;

  /**
   * `scrub`: what a server lists is scrubbed of every secret the gateway injects (any tenant's) before
   * it is recorded, stored or published. A server holds the secrets it is given and can say them in a
   * definition: the inventory stored them in clear and showed them to every admin, another tenant's
   * included.
   */
  constructor(
    upstreams: Map<string, Upstream>,
    separator: string,
    log: Logger,
    gate?: CatalogGate,
    scrub: <T>(value: T) => T = (v) => v,
  ) {
    super();
    this.#upstreams = upstreams;
    this.separator = separator;
    this.#log = log;
    this.#gate = gate;
    this.#scrub = scrub;
  }

  /** Moves on every publish and drop: what was built from the listings (cached listings) is stale when it moved. */
  get version(): number {
    return this.#version;
  }

  /** Namespaced name of an upstream item. */
  qualify(server: string, name: string): string {
    return `${server}${this.separator}${name}`;
  }

  /** Split a namespaced name; the server part never contains the separator (checked at load). */
  split(qualified: string): { server: string; name: string } | undefined {
    const i = qualified.indexOf(this.separator);
    if (i <= 0) return undefined;
    return { server: qualified.slice(0, i), name: qualified.slice(i + this.separator.length) };
  }

  /**
   * Load a server's listings again (all kinds, or those named) and publish them. One refresh runs per
   * server at a time: what is asked meanwhile — however many list_changed an upstream sends — waits
   * as one more refresh of every kind asked, started at least REFRESH_GAP_MS after the last one began.
   * Settles when a refresh covering the call's kinds has finished.
   */
  refresh(server: string, kinds: Kind[] = ALL_KINDS): Promise<void> {
    const state = this.#refreshes.get(server);
    if (!state) {
      const last = this.#last.get(server);
      const now = Date.now();
      if (last && now < last.startedAt + last.gap) {
        // Too soon after the last refresh (finished already): this one waits out its gap, as its next.
        const waiting: Refresh = { ...last, next: undefined };
        this.#refreshes.set(server, waiting);
        const p = this.refresh(server, kinds);
        this.#after(server, waiting);
        return p;
      }
      // Within twice the gap the server is still announcing: the gap keeps growing; later, it starts over.
      const hot = last !== undefined && now < last.startedAt + 2 * last.gap;
      return this.#run(server, kinds, hot ? Math.min(last.gap * 2, MAX_REFRESH_GAP_MS) : REFRESH_GAP_MS);
    }
    if (!state.next) {
      const next = { kinds: new Set<Kind>(), done: Promise.withResolvers<void>() };
      next.done.promise.catch(() => {}); // its callers get the rejection; an unobserved one is not an error
      state.next = next;
    }
    for (const k of kinds) state.next.kinds.add(k);
    return state.next.done.promise;
  }

  #run(server: string, kinds: Kind[], gap = REFRESH_GAP_MS): Promise<void> {
    const state: Refresh = { startedAt: Date.now(), gap, next: undefined };
    this.#refreshes.set(server, state);
    this.#last.set(server, { startedAt: state.startedAt, gap });
    const run = this.#load(server, kinds);
    void run.then(
      () => this.#after(server, state),
      () => this.#after(server, state),
    );
    return run;
  }

  /** A refresh finished: the one asked meanwhile starts, no sooner than REFRESH_GAP_MS after the last began. */
  #after(server: string, state: Refresh): void {
    const next = state.next;
    if (!next) {
      this.#refreshes.delete(server);
      return;
    }
    // Until it starts, `next` stays the server's pending refresh: what is asked meanwhile joins it.
    const gap = Math.min(state.gap * 2, MAX_REFRESH_GAP_MS);
    if (gap === MAX_REFRESH_GAP_MS && state.gap < MAX_REFRESH_GAP_MS)
      this.#log.warn(
        { upstream: server, everyMs: gap },
        'upstream keeps announcing list changes: its listings are refreshed at most once a minute while it does',
      );
    const start = () => void this.#run(server, [...next.kinds], gap).then(next.done.resolve, next.done.reject);
    const wait = state.startedAt + state.gap - Date.now();
    if (wait > 0) setTimeout(start, wait).unref();
    else start();
  }

  async #load(server: string, kinds: Kind[]): Promise<void> {
    const up = this.#upstreams.get(server);
    if (!up?.identity) return;
    const part = {
      ...(this.#parts.get(server) ?? { tools: [], prompts: [], resources: [], resourceTemplates: [], templateRes: [] }),
    };
    for (const kind of kinds) {
      const { capability } = LIST[kind];
      const items = up.identity.capabilities[capability] ? this.#scrub(await listAll(up, kind)) : [];
      part[kind] = kind === 'tools' || kind === 'prompts' ? this.#clean(server, kind, items) : items;
      // Bounded, linear-time matchers: a hostile template or a 60 kB URI cannot stall the event loop.
      if (kind === 'resourceTemplates')
        part.templateRes = items.map((t) => templateMatcher(String(t.uriTemplate ?? '')));
    }
    // A connection replaced (rotated credentials) or removed meanwhile: what it listed is not published.
    if (this.#upstreams.get(server) !== up) return;
    // Recorded (pinned, scanned, quarantined) before anyone can see or call it; if the inventory
    // cannot record it, the new listing is not published at all.
    const { serverInfo, protocolVersion, instructions } = up.identity;
    await this.#gate?.observe(
      server,
      part,
      { serverInfo: this.#scrub(serverInfo), protocolVersion, instructions: this.#scrub(instructions) },
      this.otherTools(server, part.tools),
    );
    if (this.#upstreams.get(server) !== up) return;
    // Published all kinds at once, so nobody sees a half-loaded server; callers hear only of what changed.
    const before = this.#parts.get(server);
    this.#parts.set(server, part);
    this.#version++;
    for (const kind of kinds)
      if (!before || JSON.stringify(before[kind]) !== JSON.stringify(part[kind]))
        this.emit('changed', kind, server, before?.[kind] ?? []);
  }

  /**
   * Tool names of every other server, as an agent might be steered to call them. A server naming its
   * own tools is fine, even when another server has a tool of the same name (two instances of one server).
   */
  otherTools(server: string, own: JsonObject[] = this.#parts.get(server)?.tools ?? []): Set<string> {
    const mine = new Set(own.map((t) => String(t.name)));
    const out = new Set<string>();
    for (const [s, part] of this.#parts) {
      if (s === server) continue;
      for (const t of part.tools) {
        const name = String(t.name);
        out.add(this.qualify(s, name));
        // Plain words (`search`, `fetch`) appear in honest prose; only identifier-like names count.
        if (/[_.-]|[a-z][A-Z]/.test(name) && !mine.has(name)) out.add(name);
      }
    }
    return out;
  }

  /** Whether the server's part has been loaded at least once. */
  has(server: string): boolean {
    return this.#parts.has(server);
  }

  drop(server: string): void {
    this.#last.delete(server);
    const before = this.#parts.get(server);
    if (!before) return;
    this.#parts.delete(server);
    this.#version++;
    for (const k of Object.keys(LIST) as Kind[]) this.emit('changed', k, server, before[k]);
  }

  /** Items of one kind, namespaced (all servers) or as the upstream names them (one server). */
  list(kind: Kind, scope?: string): JsonObject[] {
    const out: JsonObject[] = [];
    const servers = scope ? [scope] : [...this.#upstreams.keys()];
    for (const server of servers) {
      const part = this.#parts.get(server);
      if (!part) continue;
      for (const raw of part[kind]) {
        const item = this.#gate ? this.#gate.present(server, kind, raw) : raw;
        if (!item) continue;
        out.push(scope ? item : this.#namespaced(server, kind, item));
      }
    }
    return out;
  }

  /** One item as the aggregate endpoint shows it: names and URIs carry the server. */
  #namespaced(server: string, kind: Kind, item: JsonObject): JsonObject {
    if (kind === 'resources') return { ...item, uri: namespaceUri(server, String(item.uri)) };
    if (kind === 'resourceTemplates') return { ...item, uriTemplate: namespaceUri(server, String(item.uriTemplate)) };
    return { ...item, name: this.qualify(server, String(item.name)) };
  }

  resolve(kind: 'tools' | 'prompts', name: string, scope?: string): Resolved | undefined {
    const target = scope ? { server: scope, name } : this.split(name);
    if (!target) return undefined;
    const def = this.#parts.get(target.server)?.[kind].find((t) => t.name === target.name);
    return def ? { server: target.server, name: target.name, def } : undefined;
  }

  /**
   * The server a resource URI names and the URI the caller wrote for it: on the aggregate endpoint from
   * its namespace (`gatehouse:<server>/...`), on a per-server endpoint the server itself. Undefined for
   * an unknown server, and for one that said it has no resources: nothing is asked of it.
   */
  resourceServer(uri: string, scope?: string): { server: string; uri: string } | undefined {
    const target = scope ? { server: scope, uri } : splitUri(uri);
    if (!target || !this.#upstreams.has(target.server)) return undefined;
    const identity = this.#upstreams.get(target.server)?.identity;
    if (identity && !identity.capabilities.resources) return undefined;
    return this.#parts.has(target.server) ? target : undefined;
  }

  /**
   * The resources `server` lists whose URI is `uri` in canonical form (src/policy/canonical.ts): a
   * caller's other spelling of a listed URI names that resource, and so does the server's own (two
   * spellings listed are both found). Empty: a URI the server did not list.
   */
  listedAt(server: string, uri: string): JsonObject[] {
    const listed = this.#parts.get(server)?.resources;
    if (!listed) return [];
    let index = this.#canonical.get(listed);
    if (!index) {
      // Built on the first read after a listing changed, not at discovery: most servers are never read.
      index = new Map();
      for (const r of listed) {
        const c = typeof r.uri === 'string' ? canonicalResourceUri(r.uri) : undefined;
        // A URI that has no canonical form can never be read (every read is canonical first).
        if (c?.ok) index.set(c.uri, [...(index.get(c.uri) ?? []), r]);
      }
      this.#canonical.set(listed, index);
    }
    return index.get(uri) ?? [];
  }

  /** The first template of `server` that `uri` matches (bounded, linear-time matchers), if any. */
  templateFor(server: string, uri: string): JsonObject | undefined {
    const part = this.#parts.get(server);
    const i = part ? part.templateRes.findIndex((re) => re.test(uri)) : -1;
    return i >= 0 ? part?.resourceTemplates[i] : undefined;
  }

  /** The template `server` lists written exactly as `text`: a completion names a template itself. */
  templateNamed(server: string, text: string): JsonObject | undefined {
    return this.#parts.get(server)?.resourceTemplates.find((t) => t.uriTemplate === text);
  }

  /**
   * Keep only well-named, unique, non-confusable items; log the rest with the reason. When two names
   * look alike, both are refused: the gateway cannot know which one the operator meant.
   */
  #clean(server: string, kind: 'tools' | 'prompts', items: JsonObject[]): JsonObject[] {
    const bySkeleton = new Map<string, string[]>();
    for (const item of items) {
      if (typeof item.name !== 'string') continue;
      const sk = skeleton(item.name);
      bySkeleton.set(sk, [...(bySkeleton.get(sk) ?? []), item.name]);
    }
    const kept: JsonObject[] = [];
    for (const item of items) {
      const name = item.name;
      if (typeof name !== 'string') {
        this.#log.warn({ server, kind }, 'refused an item without a name');
        continue;
      }
      const twins = (bySkeleton.get(skeleton(name)) ?? []).filter((n) => n !== name);
      const problem =
        (kind === 'tools' && isItemName(name)
          ? 'starts like a prompt or resource entry of the inventory (`prompt:`, `resource:`, `template:`)'
          : undefined) ??
        nameProblem(name) ??
        (twins.length ? `looks like ${twins.map(asciiJson).join(', ')}` : undefined) ??
        (depthOver(item, MAX_ITEM_DEPTH) ? `definition nested deeper than ${MAX_ITEM_DEPTH} levels` : undefined);
      if (problem) {
        this.#log.error(
          { server, kind, name: asciiJson(name), reason: problem },
          'refused an upstream item: unsafe name',
        );
        continue;
      }
      kept.push(item);
    }
    return kept;
  }
}
