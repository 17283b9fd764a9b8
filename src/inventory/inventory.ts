/**
 * The inventory at run time: records every discovery in the store (before the catalogue publishes
 * it), and answers, from memory, what the call path and the listings need: is this tool quarantined,
 * what is its class, what may a client be shown. The store is the truth; the memory follows it by
 * polling its revision, so an operator's `gatehouse inventory accept` (any process, any replica)
 * takes effect within a poll interval.
 */
import { EventEmitter } from 'node:events';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Logger } from '../observability/logger.ts';
import type { InventoryEventInput, InventoryServer, InventoryStore } from '../storage/types.ts';
import type { Config } from '../config/schema.ts';
import type { Kind } from '../catalog/catalog.ts';
import type { ToolClass } from '../model/tool-class.ts';
import { effectiveClass, reconcile, serverQuarantine, toolQuarantine, type Observation } from './review.ts';
import { sanitize, sanitizeText } from './scan.ts';
import { isItemName } from '../catalog/names.ts';

export interface ToolView {
  pin: string;
  quarantine: string | null;
  class: ToolClass;
  reviewed: boolean;
  /** The current definition as clients may see it. */
  shown: JsonObject;
}

interface ServerView {
  record: InventoryServer;
  quarantine: string | null;
  tools: Map<string, ToolView>;
}

export interface CatalogPart {
  tools: JsonObject[];
  prompts: JsonObject[];
  resources: JsonObject[];
  resourceTemplates: JsonObject[];
}

export interface Discovered {
  serverInfo: unknown;
  protocolVersion: string;
  instructions: string | undefined;
}

const POLL_MS = 1000;

/** The inventory key of a catalogue item. */
const ITEM_KEY: Record<Kind, (item: JsonObject) => string> = {
  tools: (i) => String(i.name),
  prompts: (i) => `prompt:${String(i.name)}`,
  resources: (i) => `resource:${String(i.uri)}`,
  resourceTemplates: (i) => `template:${String(i.uriTemplate)}`,
};

/** The listings an inventory change can alter. */
export type ListKind = 'tools' | 'prompts' | 'resources' | 'resourceTemplates';

export class Inventory extends EventEmitter<{ changed: [server: string, kinds: ListKind[]] }> {
  readonly #store: InventoryStore;
  readonly #config: () => Config;
  readonly #log: Logger;
  #views = new Map<string, ServerView>();
  #revision = -1;
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;

  readonly #onEvents: (events: InventoryEventInput[]) => void;

  /** `onEvents`: every event this process records (the audit trail mirrors them). */
  constructor(
    store: InventoryStore,
    config: () => Config,
    log: Logger,
    onEvents: (events: InventoryEventInput[]) => void = () => {},
  ) {
    super();
    this.#store = store;
    this.#config = config;
    this.#log = log;
    this.#onEvents = onEvents;
  }

  /** Load the stored inventory and follow its changes. */
  async start(): Promise<void> {
    await this.sync();
    this.#timer = setInterval(
      () => void this.sync().catch((err: Error) => this.#log.warn({ err: err.message }, 'inventory refresh failed')),
      POLL_MS,
    );
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Reload from the store when its revision moved (or `force`). Concurrent calls share one run. */
  sync(force = false): Promise<void> {
    this.#syncing ??= this.#sync(force).finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #sync(force: boolean): Promise<void> {
    const rev = await this.#store.revision();
    if (rev === this.#revision && !force) return;
    const [servers, tools] = await Promise.all([this.#store.servers(), this.#store.tools()]);
    const classes = configuredClasses(this.#config());
    const views = new Map<string, ServerView>();
    for (const record of servers)
      views.set(record.server, { record, quarantine: serverQuarantine(record), tools: new Map() });
    for (const t of tools) {
      const v = views.get(t.server);
      if (!v || !t.present) continue;
      const cls = isItemName(t.tool)
        ? { class: 'READ' as const, reviewed: true }
        : effectiveClass(t, classes.get(t.server)?.get(t.tool));
      v.tools.set(t.tool, {
        pin: t.pin,
        quarantine: toolQuarantine(t),
        class: cls.class,
        reviewed: cls.reviewed,
        shown: sanitize(t.def as JsonObject),
      });
    }
    const before = this.#views;
    this.#views = views;
    this.#generation++;
    this.#revision = rev;
    for (const [server, v] of views) {
      const kinds = changedKinds(before.get(server), v);
      if (kinds.length) this.emit('changed', server, kinds);
    }
  }

  /** Moves whenever the views are replaced: what was built from them (cached listings) is stale when it moved. */
  get generation(): number {
    return this.#generation;
  }

  /** Record what discovery found, before the catalogue publishes it; the view is current on return. */
  async observe(server: string, part: CatalogPart, found: Discovered, otherTools: ReadonlySet<string>): Promise<void> {
    const obs: Observation = { server, at: Date.now(), ...found, ...part, otherTools };
    const rule = this.#config().inventory.newTools;
    const events = await this.#store.update(server, (state) => {
      const change = reconcile(state, obs, rule);
      return { change, result: change.events ?? [] };
    });
    this.#onEvents(events);
    for (const e of events) {
      if (e.kind.endsWith('quarantined'))
        this.#log.warn({ server, tool: e.tool, reason: e.detail.reason }, `${e.tool ? 'tool' : 'server'} quarantined`);
    }
    await this.sync(true);
  }

  /** What the call path needs about one tool; a tool the inventory does not know is quarantined. */
  tool(server: string, tool: string): ToolView & { serverQuarantine: string | null } {
    const v = this.#views.get(server);
    const t = v?.tools.get(tool);
    if (!v || !t)
      return {
        pin: '',
        quarantine: 'not in the inventory',
        class: 'DESTRUCTIVE',
        reviewed: false,
        shown: {},
        serverQuarantine: null,
      };
    return { ...t, serverQuarantine: v.quarantine };
  }

  /**
   * A prompt, resource or template (`prompt:<name>`, `resource:<uri>`, `template:<uriTemplate>`), as
   * the call path needs it. '' is a resource the server did not list: only its server's standing counts.
   */
  item(server: string, item: string): Pick<ToolView, 'pin' | 'quarantine'> & { serverQuarantine: string | null } {
    const v = this.#views.get(server);
    if (!v) return { pin: '', quarantine: 'not in the inventory', serverQuarantine: null };
    if (item === '') return { pin: '', quarantine: null, serverQuarantine: v.quarantine };
    const t = v.tools.get(item);
    return t
      ? { pin: t.pin, quarantine: t.quarantine, serverQuarantine: v.quarantine }
      : { pin: '', quarantine: 'not in the inventory', serverQuarantine: v.quarantine };
  }

  /** An item as a client may see it, or undefined when it must be hidden. */
  present(server: string, kind: Kind, item: JsonObject): JsonObject | undefined {
    const v = this.#views.get(server);
    if (!v || v.quarantine) return undefined;
    const key = ITEM_KEY[kind](item);
    const t = v.tools.get(key);
    return t && !t.quarantine ? t.shown : undefined;
  }

  /** The server's instructions as clients may see them: only accepted ones, sanitised. */
  instructions(server: string): string | undefined {
    const v = this.#views.get(server);
    if (!v || v.quarantine || !v.record.instructions) return undefined;
    return sanitizeText(v.record.instructions);
  }
}

/** Classes the operator wrote in the config: server -> tool -> class. */
export function configuredClasses(config: Config): Map<string, Map<string, ToolClass>> {
  const out = new Map<string, Map<string, ToolClass>>();
  for (const s of config.servers) {
    const m = new Map<string, ToolClass>();
    for (const [tool, t] of Object.entries(s.tools ?? {})) if (t.class) m.set(tool, t.class);
    out.set(s.name, m);
  }
  return out;
}

/** The kind of listing an inventory entry belongs to (prompts, templates and resources are stored with a prefix). */
function kindOf(name: string): ListKind {
  if (name.startsWith('prompt:')) return 'prompts';
  if (name.startsWith('template:')) return 'resourceTemplates';
  if (name.startsWith('resource:')) return 'resources';
  return 'tools';
}

/** Which listings of a server differ between two views: only those are announced as changed. */
function changedKinds(a: ServerView | undefined, b: ServerView): ListKind[] {
  const all: ListKind[] = ['tools', 'prompts', 'resources', 'resourceTemplates'];
  if (!a) return all;
  if (a.quarantine !== b.quarantine) return all;
  const print = (v: ServerView, kind: ListKind) =>
    [...v.tools]
      .filter(([n]) => kindOf(n) === kind)
      .map(([n, t]) => `${n}:${t.pin}:${t.quarantine}`)
      .join('|');
  return all.filter((k) => print(a, k) !== print(b, k));
}
