/**
 * Confirming that a change every gateway follows from the store has taken effect everywhere. The
 * credential broker acknowledges revocations itself (revocation_acks); run-time modes and principal
 * revocations are polled by each gateway, and a gateway that has applied one writes an apply_acks row
 * (its instance id, the change's version) so `gatehouse incident open` can wait for every live
 * gateway, as `gatehouse credentials revoke` does, and say how long that took. A gateway's rows go
 * an hour after it was last seen (the broker's housekeeping, `RevocationStore.forgetStale`).
 */
import type { Logger } from '../observability/logger.ts';
import type { ApplyAckStore, ModeRecord, PrincipalRevocation, PrincipalRevocationStore } from '../storage/types.ts';

export const modeKey = (scope: string) => `mode:${scope}`;
/** A cleared mode, acknowledged with the `setAt` of the record the gateway saw removed. */
export const modeClearedKey = (scope: string) => `mode-cleared:${scope}`;
export const principalKey = (r: Pick<PrincipalRevocation, 'kind' | 'value' | 'issuer'>) =>
  `principal:${r.kind}:${r.issuer}:${r.value}`;

const RETRY_MS = 1000;

/** The gateway side: acknowledges each applied change once (again after a failed write). */
export class ApplyAcks {
  readonly #store: ApplyAckStore;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #acked = new Map<string, number>();
  #retry: NodeJS.Timeout | undefined;

  constructor(store: ApplyAckStore, instance: string, log: Logger) {
    this.#store = store;
    this.#instance = instance;
    this.#log = log;
  }

  /** Call after the changes are in force on this gateway. */
  applied(changes: ReadonlyArray<{ key: string; version: number }>): void {
    const pending = changes.filter((c) => this.#acked.get(c.key) !== c.version);
    if (!pending.length) return;
    void (async () => {
      try {
        for (const c of pending) {
          await this.#store.ack(c.key, this.#instance, c.version, Date.now());
          this.#acked.set(c.key, c.version);
        }
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'incident: acknowledging an applied change failed; retrying');
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => this.applied(changes), RETRY_MS);
        this.#retry.unref();
      }
    })();
  }

  /** The modes in force, and those the same change removed (`mode clear` waits for those). */
  modesApplied(records: readonly ModeRecord[], cleared: readonly ModeRecord[] = []): void {
    this.applied([
      ...records.map((r) => ({ key: modeKey(r.scope), version: r.setAt })),
      ...cleared.map((r) => ({ key: modeClearedKey(r.scope), version: r.setAt })),
    ]);
  }

  /**
   * The principal revocations store as the gateway's follower reads it: once the list it read is
   * applied (the follower applies it in the continuation of this read, before any macrotask), it is acknowledged.
   */
  following(store: PrincipalRevocationStore): PrincipalRevocationStore {
    return {
      revoke: (r) => store.revoke(r),
      restore: (k, v, i) => store.restore(k, v, i),
      list: async () => {
        const list = await store.list();
        setImmediate(() => this.applied(list.map((r) => ({ key: principalKey(r), version: r.revokedAt }))));
        return list;
      },
    };
  }

  stop(): void {
    clearTimeout(this.#retry);
  }
}

export interface Confirmation {
  /** Live gateways when the change was made. */
  gateways: number;
  /** Every one of them that still runs has acknowledged. */
  confirmed: boolean;
  /** From the change to the last gateway's acknowledgement; null when not confirmed. */
  timeToEffectMs: number | null;
  /** Gateways, still heartbeating, that did not acknowledge in time. */
  missing: string[];
  /**
   * Gateways that stopped heartbeating while they were waited for (killed, or cut off from the store):
   * no longer waited for, and reported apart. A gateway that cannot reach the store cannot log calls to
   * the audit trail either; one that comes back reads the change before it heartbeats again.
   */
  stopped: string[];
}

/** An acknowledgement as the stores return it (credential revocations carry no version). */
type Ack = { instance: string; ackedAt: number; version?: number };

/**
 * Where a wait stands: which gateways have yet to acknowledge, and which stopped heartbeating (not in
 * `stillLive`, when it was read) before they did. Pure; `confirmed` is the loop around it.
 */
export function standing(
  live: readonly string[],
  got: readonly Ack[],
  stillLive: readonly string[] | undefined,
  stopped: readonly string[],
): { missing: string[]; stopped: string[] } {
  const unacked = live.filter((i) => !got.some((a) => a.instance === i));
  const gone = stillLive ? unacked.filter((i) => !stillLive.includes(i)) : [];
  return {
    missing: unacked.filter((i) => !gone.includes(i) && !stopped.includes(i)),
    stopped: [...new Set([...stopped, ...gone])].filter((i) => unacked.includes(i)),
  };
}

/**
 * Wait until every gateway in `live` has acknowledged (a version >= `version`, when given), stopped
 * heartbeating (read through `stillLive` on every round, when given: a gateway killed just before the
 * change is not waited for until the deadline), or the deadline. `acks` reads the acknowledgements;
 * `at` is when the change was made. `credentials revoke`, `principals revoke` and every incident
 * step wait here.
 */
export async function confirmed(
  live: readonly string[],
  acks: () => Promise<Ack[]>,
  opts: {
    at: number;
    version?: number;
    timeoutMs: number;
    onWait?: (missing: number, of: number) => void;
    stillLive?: () => Promise<readonly string[]>;
  },
): Promise<Confirmation> {
  const deadline = Date.now() + opts.timeoutMs;
  let stopped: string[] = [];
  for (;;) {
    const got = (await acks()).filter((a) => opts.version === undefined || (a.version ?? 0) >= opts.version);
    const now = standing(live, got, await opts.stillLive?.(), stopped);
    stopped = now.stopped;
    const mine = got.filter((a) => live.includes(a.instance));
    if (!now.missing.length)
      return {
        gateways: live.length,
        confirmed: true,
        timeToEffectMs: mine.length ? Math.max(0, Math.max(...mine.map((a) => a.ackedAt)) - opts.at) : 0,
        missing: [],
        stopped,
      };
    if (Date.now() > deadline)
      return { gateways: live.length, confirmed: false, timeToEffectMs: null, missing: now.missing, stopped };
    opts.onWait?.(now.missing.length, live.length - stopped.length);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A gateway instance as an operator can find it: instance ids are the gateway's audit stream,
 * `<host>/gw/<random>`, so the host is named and the stream's `gateway started` record tells when it started.
 */
export function gatewayName(instance: string): string {
  const host = /^([^/]+)\/gw\//.exec(instance)?.[1];
  return host ? `${instance} (on host ${host})` : instance;
}

/** How the gateways that stopped heartbeating while waited for are reported, or '' when none did. */
export function stoppedLine(stopped: readonly string[]): string {
  if (!stopped.length) return '';
  return `${stopped.length} gateway(s) stopped answering while waited for (no heartbeat for over ${LIVE_MS / 1000} s), not counted: ${stopped.map(gatewayName).join(', ')}`;
}

/**
 * What the audit trail keeps of a revocation every live gateway confirmed (`credentials.confirmed`),
 * so that readiness (2.4) still sees the drill after the revocation is lifted; undefined when no
 * gateway confirmed it (none running, or not all of them).
 */
export function confirmedDetail(
  ref: string,
  c: Pick<Confirmation, 'confirmed' | 'gateways' | 'stopped' | 'timeToEffectMs'>,
): Record<string, unknown> | undefined {
  const gateways = c.gateways - c.stopped.length;
  if (!c.confirmed || gateways <= 0) return undefined;
  return { ref, gateways, timeToEffectMs: c.timeToEffectMs };
}

/** The gateways live now (a heartbeat within LIVE_MS): what `confirmed` re-reads while it waits. */
export const liveNow = (store: { live(withinMs: number): Promise<string[]> }) => () => store.live(LIVE_MS);

/** Gateways that heartbeat within this window count as live (they heartbeat every second). */
export const LIVE_MS = 5000;
