/**
 * Modes set at run time — the incident switch (`gatehouse mode set --tool X disabled`) — kept in the
 * store, followed by every gateway (polled each second, like the inventory), and laid over the modes
 * of the policy files: the most specific scope still wins, and `disabled` anywhere still wins.
 */
import type { Logger } from '../observability/logger.ts';
import type { ModeRecord, ModeStore } from '../storage/types.ts';
import type { Modes, Policy } from './model.ts';

const POLL_MS = 1000;

/** `--tool x` / `--server s` / `--tenant t` / `--gateway` -> a scope key. */
export function scopeKey(o: {
  tool?: string;
  server?: string;
  tenant?: string;
  gateway?: boolean;
}): string | undefined {
  const given = [
    o.tool && `tool:${o.tool}`,
    o.server && `server:${o.server}`,
    o.tenant && `tenant:${o.tenant}`,
    o.gateway && 'gateway',
  ].filter(Boolean) as string[];
  return given.length === 1 ? given[0] : undefined;
}

/** A mode the policy files set, by its scope key (as `mode set` names scopes), with where it is written. */
export interface PolicyMode {
  scope: string;
  mode: string;
  file: string;
  line: number;
}

/** The modes the policy files set, gateway first, then tenants, servers and tools, each sorted by name. */
export function policyModes(policy: Pick<Policy, 'modes' | 'modesAt'> | undefined): PolicyMode[] {
  if (!policy) return [];
  const at = (scope: string) => policy.modesAt[scope] ?? { file: '', line: 0 };
  const rows: PolicyMode[] = policy.modes.gateway
    ? [{ scope: 'gateway', mode: policy.modes.gateway, ...at('gateway') }]
    : [];
  for (const [level, table] of [
    ['tenant', policy.modes.tenants],
    ['server', policy.modes.servers],
    ['tool', policy.modes.tools],
  ] as const)
    for (const name of Object.keys(table).sort())
      rows.push({ scope: `${level}:${name}`, mode: table[name], ...at(`${level}:${name}`) });
  return rows;
}

export function mergeModes(base: Modes | undefined, over: readonly ModeRecord[]): Modes {
  const m = {
    gateway: base?.gateway,
    tenants: { ...base?.tenants },
    servers: { ...base?.servers },
    tools: { ...base?.tools },
  } as {
    gateway?: Modes['gateway'];
    tenants: Record<string, Modes['gateway']>;
    servers: Record<string, Modes['gateway']>;
    tools: Record<string, Modes['gateway']>;
  };
  for (const r of over) {
    if (r.scope === 'gateway') m.gateway = r.mode;
    else {
      const i = r.scope.indexOf(':');
      const kind = r.scope.slice(0, i);
      const name = r.scope.slice(i + 1);
      if (kind === 'tenant') m.tenants[name] = r.mode;
      else if (kind === 'server') m.servers[name] = r.mode;
      else if (kind === 'tool') m.tools[name] = r.mode;
    }
  }
  return m as Modes;
}

export class RuntimeModes {
  readonly #store: ModeStore;
  readonly #log: Logger;
  readonly #onChange: () => void;
  #records: ModeRecord[] = [];
  #cleared: ModeRecord[] = [];
  #revision = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(store: ModeStore, log: Logger, onChange: () => void) {
    this.#store = store;
    this.#log = log;
    this.#onChange = onChange;
  }

  get records(): readonly ModeRecord[] {
    return this.#records;
  }

  /** The modes the last change removed (their scope has none any more): what a `mode clear` waits to see applied. */
  get cleared(): readonly ModeRecord[] {
    return this.#cleared;
  }

  async start(): Promise<void> {
    await this.sync();
    this.#timer = setInterval(
      () => void this.sync().catch((err: Error) => this.#log.warn({ err: err.message }, 'modes refresh failed')),
      POLL_MS,
    );
    this.#timer.unref();
  }

  async sync(): Promise<void> {
    const rev = await this.#store.revision();
    if (rev === this.#revision) return;
    const before = this.#records;
    const had = before.length > 0;
    this.#records = await this.#store.list();
    const scopes = new Set(this.#records.map((r) => r.scope));
    this.#cleared = before.filter((r) => !scopes.has(r.scope));
    this.#revision = rev;
    // Modes in force are worth a warning on every change; the last one cleared is worth a line; a
    // revision that moved with nothing in force before or after (a mode set and cleared between two
    // polls, a store's first revision) is not news.
    const modes = this.#records.map((r) => `${r.scope}=${r.mode}`);
    if (modes.length) this.#log.warn({ modes }, 'run-time modes applied');
    else if (had) this.#log.info("run-time modes cleared: the policy files' modes apply");
    else this.#log.debug('run-time modes: none');
    this.#onChange();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
