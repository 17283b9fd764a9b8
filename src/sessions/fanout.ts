/**
 * Changes one replica makes that the others must apply now, not at their next poll: a legacy session
 * ended, revocations changed. One Redis pub/sub channel per deployment (the limits' Redis and key
 * prefix); a message is a hint to re-read or drop, never the truth: the store stays the truth, so a
 * lost message costs at most the followers' own delay.
 *
 * `live` is true only while the subscription is up; `onLive` hears of every change, and of a first
 * connection that fails (Redis away at start is an outage too). While it is down a replica cannot hear of changes
 * elsewhere, so callers fall back to the stricter path (sessions re-read the store on every request);
 * when it is (re)established, `onResync` runs so cached state is re-checked (messages may have been missed).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { lazyRequire } from '../util/lazy.ts';

const ioredis = lazyRequire<typeof import('ioredis')>('ioredis');

export type FanoutMessage =
  /** `session`: the digest of the session's id (src/sessions/session-digest.ts), never the id. */
  { kind: 'session.ended'; session: string } | { kind: 'revocations.changed' } | { kind: 'modes.changed' };

export interface FanoutOptions<M extends { kind: string } = FanoutMessage> {
  url: string;
  /** Channel name; default `gatehouse:fanout`. Replicas of one deployment share it. */
  channel?: string;
  /** This process's name in its messages (its own are not heard); default random. */
  origin?: string;
  /** The largest message heard, in characters; default 1024 (hints). */
  maxMessage?: () => number;
  /** Called with every message published by another process. */
  onMessage: (msg: M) => void;
  /** Called whenever the subscription is (re)established: re-check what is cached. */
  onResync?: () => void;
  /** Called on every change of `live`, and with false when the first connection fails. */
  onLive?: (live: boolean) => void;
}

const MAX_MESSAGE = 1024;

export class Fanout<M extends { kind: string } = FanoutMessage> {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #origin: string;
  readonly #opts: FanoutOptions<M>;
  #live = false;
  /** What onLive was last told: nothing yet, so a first connection that fails is reported like a later loss. */
  #told: boolean | undefined;
  #closed = false;

  constructor(opts: FanoutOptions<M>) {
    this.#opts = opts;
    this.#channel = opts.channel ?? 'gatehouse:fanout';
    this.#origin = opts.origin ?? randomBytes(8).toString('hex');
    const maxMessage = opts.maxMessage ?? (() => MAX_MESSAGE);
    const common = {
      connectTimeout: 1000,
      commandTimeout: 500,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(times * 100, 1000),
    };
    this.#pub = new (ioredis().Redis)(opts.url, common);
    // A subscriber connection: ioredis re-subscribes on reconnect, but offline queueing must be on
    // for that, so this one keeps the default queue.
    this.#sub = new (ioredis().Redis)(opts.url, { ...common, enableOfflineQueue: true, commandTimeout: undefined });
    this.#pub.on('error', () => {});
    this.#sub.on('error', () => {});
    this.#sub.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel || text.length > maxMessage()) return;
      let m: { origin?: string; msg?: M };
      try {
        m = JSON.parse(text) as typeof m;
      } catch {
        return;
      }
      if (m.origin === this.#origin || !m.msg || typeof m.msg.kind !== 'string') return;
      try {
        this.#opts.onMessage(m.msg);
      } catch {
        // a broken handler must not stop the subscription
      }
    });
    this.#sub.on('ready', () => void this.#subscribe());
    for (const ev of ['close', 'end', 'reconnecting'] as const) this.#sub.on(ev, () => this.#setLive(false));
  }

  /** True while this process hears every change published elsewhere. */
  get live(): boolean {
    return this.#live;
  }

  /** Wait (at most `ms`) until the subscription is up; whether it is. */
  async ready(ms = 3000): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.#live && Date.now() < until && !this.#closed) await new Promise((r) => setTimeout(r, 20));
    return this.#live;
  }

  /** Tell the other replicas. Never throws: a lost message only costs the followers' own delay. */
  async publish(msg: M): Promise<void> {
    await this.publishTo(this.#channel, msg);
  }

  /** The same on another channel (one replica's own); false when Redis did not take it. */
  async publishTo(channel: string, msg: M): Promise<boolean> {
    return this.#pub.publish(channel, JSON.stringify({ origin: this.#origin, msg })).then(
      () => true,
      () => false,
    );
  }

  /** The same, with how many listened (-1 when Redis did not take it). */
  async publishCount(channel: string, msg: M): Promise<number> {
    return this.#pub.publish(channel, JSON.stringify({ origin: this.#origin, msg })).then(
      (n) => n,
      () => -1,
    );
  }

  /** Set `key` to `value` for `ms` (a replica's note beside its messages); false when Redis did not take it. */
  async setKey(key: string, value: string, ms: number): Promise<boolean> {
    return this.#pub.set(key, value, 'PX', ms).then(
      () => true,
      () => false,
    );
  }

  /** The value of `key`; undefined when there is none or Redis did not answer. */
  async getKey(key: string): Promise<string | undefined> {
    return this.#pub.get(key).then(
      (v) => v ?? undefined,
      () => undefined,
    );
  }

  /** Delete `key` only while it still holds `value` (another process may have set it since). */
  async deleteKeyIf(key: string, value: string): Promise<void> {
    await this.#pub
      .eval(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
        1,
        key,
        value,
      )
      .catch(() => {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#live = false; // closing on purpose: not an outage to report
    for (const c of [this.#pub, this.#sub]) c.disconnect();
  }

  async #subscribe(): Promise<void> {
    try {
      await this.#sub.subscribe(this.#channel);
    } catch {
      return; // the next 'ready' tries again
    }
    this.#setLive(true);
    // Whatever was cached while not live may have changed unheard (even before the first connection).
    this.#opts.onResync?.();
  }

  #setLive(live: boolean): void {
    if (this.#closed) return; // closing on purpose: not an outage to report
    this.#live = live;
    // Once per change: a Redis away at start is told once, not at every reconnection attempt.
    if (this.#told === live) return;
    this.#told = live;
    try {
      this.#opts.onLive?.(live);
    } catch {
      // a broken callback must not break the subscription
    }
  }
}

/** The parts of a gateway that follow fan-out messages. */
export interface FanoutFollowers {
  sessions: {
    recheckMs: () => number;
    onEnded: (digest: string) => void;
    endedElsewhere(digest: string): void;
    distrustAll(): void;
  };
  revocations: { refresh(): Promise<void> };
  /** Run-time modes (the incident switch): re-read when another process changed them. */
  modes?: { sync(): Promise<void> };
  log: { info(o: object, m: string): void; error(o: object, m: string): void };
  /** Told on every change of `live` (a metric). */
  live?: (up: boolean) => void;
}

/**
 * Fan-out for a gateway whose limits use Redis (the same server and key prefix: one deployment, one
 * channel); undefined without Redis (one process, or replicas that follow the store only).
 */
export function startFanout(
  redis: { url: string; keyPrefix?: string } | undefined,
  f: FanoutFollowers,
): Fanout | undefined {
  if (!redis) return undefined;
  const fanout = new Fanout({
    url: redis.url,
    channel: `${redis.keyPrefix ?? 'gatehouse:limits:'}fanout`,
    onMessage: (msg) => {
      if (msg.kind === 'session.ended' && typeof msg.session === 'string') f.sessions.endedElsewhere(msg.session);
      else if (msg.kind === 'revocations.changed') void f.revocations.refresh().catch(() => {});
      else if (msg.kind === 'modes.changed') void f.modes?.sync().catch(() => {});
    },
    onResync: () => {
      f.sessions.distrustAll();
      void f.revocations.refresh().catch(() => {});
      void f.modes?.sync().catch(() => {});
    },
    onLive: (live) => {
      f.live?.(live);
      if (live) f.log.info({}, 'fan-out: subscribed; session ends elsewhere apply at once');
      else
        f.log.error({}, 'fan-out: redis unreachable; every legacy session request re-reads the store until it is back');
    },
  });
  const trusted = f.sessions.recheckMs;
  f.sessions.recheckMs = () => (fanout.live ? trusted() : 0);
  f.sessions.onEnded = (digest) => void fanout.publish({ kind: 'session.ended', session: digest });
  return fanout;
}

/**
 * Tell running gateways now, from a short-lived process (the CLI after a revocation). Best effort and
 * bounded: without Redis, or with Redis away, nothing happens and the gateways' own polling applies
 * the change within its interval.
 */
export async function announce(
  redis: { url: string; keyPrefix?: string } | undefined,
  msg: FanoutMessage,
  timeoutMs = 1000,
): Promise<boolean> {
  if (!redis) return false;
  const client = new (ioredis().Redis)(redis.url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    const send = (async () => {
      await client.connect();
      await client.publish(`${redis.keyPrefix ?? 'gatehouse:limits:'}fanout`, JSON.stringify({ origin: 'cli', msg }));
      return true;
    })();
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return await Promise.race([send.catch(() => false), late]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
