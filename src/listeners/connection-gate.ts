/**
 * How many HTTP connections the listener holds at once. Each is a file descriptor, taken from the one
 * limit the gateway's upstream pipes, store and audit spool share: about 24,000 idle unauthenticated
 * connections once used it up, no tenant was answered and the audit writer hit EMFILE. A connection
 * over `gateway.maxConnections` (all clients) or `gateway.maxConnectionsPerAddress` (one source
 * address) is answered 503 and closed as it arrives, before any request on it is read, counted
 * (`gatehouse_connections_refused_total`) and logged at most once a minute.
 *
 * The cap per address is on the TCP peer: a reverse proxy is one source for all its clients, and who
 * they are is only known from headers, once a request is read. An IPv6 peer is counted by its /64
 * (src/util/address.ts): a client given a /64 could otherwise connect from a new address each time. Connections from an address in
 * `gateway.trustedProxies` count toward the total only; the proxy limits its own clients.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { GatehouseError } from '../protocol/errors.ts';
import { toWire } from '../protocol/wire.ts';
import { LogBudget } from '../util/log-budget.ts';
import { addressSource, listedAddress, unmappedAddress } from '../util/address.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

export interface ConnectionCaps {
  /** Connections at once, all clients together. */
  max: number;
  /** Connections at once from one address. */
  perAddress: number;
  /** Addresses held to `max` only (trusted reverse proxies). */
  exempt: readonly string[];
}

const PER_ADDRESS = 256;
/** Descriptors kept for everything that is not a client connection, before the rest is halved. */
const RESERVED_FDS = 256;

/** The soft open-file limit from `/proc/self/limits` (Node raises it to the hard limit at start), or undefined. */
export function openFileLimit(limits?: string): number | undefined {
  let text = limits;
  try {
    text ??= readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined; // not Linux
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (!m) return undefined;
  return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/**
 * Half of what the open-file limit leaves after RESERVED_FDS: the other half stays for upstream
 * pipes (three or more per server and tenant), the store and the audit spool. 64 at the least (a
 * tiny limit fails elsewhere first), 16,384 at the most; 1024 where the limit cannot be read.
 */
export function defaultMaxConnections(limit: number | undefined): number {
  if (limit === undefined) return 1024;
  return Math.max(64, Math.min(16_384, Math.floor((limit - RESERVED_FDS) / 2)));
}

let derived: number | undefined;

/** What the caps are read from: the `gateway:` section. */
export interface ConnectionSettings {
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  trustedProxies?: readonly string[];
}

/** The caps of a `gateway:` section; read for every connection, so a reload applies to the next. */
export function connectionCaps(g: ConnectionSettings): ConnectionCaps {
  derived ??= defaultMaxConnections(openFileLimit());
  return {
    max: g.maxConnections ?? derived,
    perAddress: g.maxConnectionsPerAddress ?? PER_ADDRESS,
    exempt: g.trustedProxies ?? [],
  };
}

type Reason = 'total' | 'address';

const REFUSALS: Record<Reason, () => GatehouseError> = {
  total: () => new GatehouseError('E_TOO_MANY_CONNECTIONS'),
  address: () =>
    new GatehouseError('E_TOO_MANY_CONNECTIONS', 'too many connections from this address: close some and retry'),
};

/** The whole answer to a refused connection, written before its request is read. */
function refusal(reason: Reason): string {
  const w = toWire(REFUSALS[reason](), null);
  const body = JSON.stringify(w.body);
  return `HTTP/1.1 ${w.status} Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`;
}

export class ConnectionGate {
  readonly #caps: () => ConnectionCaps;
  readonly #tell: () => { log: Logger; metrics: Metrics };
  #open = 0;
  /** Open connections by source (not exempt ones: addressSource); a source leaves when its last closes. */
  readonly #byAddress = new Map<string, number>();
  /** A line a minute for each cap at the most: a flood is one line, with how many were left out. */
  readonly #noisy: Record<Reason, LogBudget> = { total: new LogBudget(1, 60_000), address: new LogBudget(1, 60_000) };
  readonly #noisyPipelining = new LogBudget(1, 60_000);

  constructor(caps: () => ConnectionCaps, tell: () => { log: Logger; metrics: Metrics }) {
    this.#caps = caps;
    this.#tell = tell;
  }

  /** A new connection: counted until it closes, or refused at once when it would be over a cap. */
  admit(socket: Socket): void {
    const caps = this.#caps();
    const peer = unmappedAddress(socket.remoteAddress ?? '');
    const perAddress = !listedAddress(caps.exempt, peer);
    const address = addressSource(peer); // an IPv6 client by its /64
    const fromIt = this.#byAddress.get(address) ?? 0;
    if (this.#open >= caps.max || (perAddress && fromIt >= caps.perAddress)) {
      this.#refuse(socket, this.#open >= caps.max ? 'total' : 'address', address, caps);
      return;
    }
    this.#open++;
    if (perAddress) this.#byAddress.set(address, fromIt + 1);
    socket.once('close', () => {
      this.#open--;
      if (!perAddress) return;
      const left = (this.#byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#byAddress.set(address, left);
      else this.#byAddress.delete(address);
    });
  }

  /** A connection closed for sending more requests ahead of their answers than may wait (src/listeners/request-turns.ts). */
  pipelining(socket: Socket, queue: number): void {
    const { log, metrics } = this.#tell();
    metrics.connectionsRefused.inc({ reason: 'pipelined' });
    const address = addressSource(unmappedAddress(socket.remoteAddress ?? ''));
    this.#noisyPipelining.line(Date.now(), (suppressed) =>
      log.warn(
        { reason: 'pipelined', address, queue, ...(suppressed ? { suppressed } : {}) },
        'connection closed: it sent more requests ahead of their answers than may wait',
      ),
    );
  }

  #refuse(socket: Socket, reason: Reason, address: string, caps: ConnectionCaps): void {
    // The answer fits in the kernel's buffer, so it is written before the socket closes; closed at
    // once, the descriptor is free again and nothing the client sends is read (no request is routed).
    socket.write(refusal(reason));
    socket.destroy();
    const { log, metrics } = this.#tell();
    metrics.connectionsRefused.inc({ reason });
    this.#noisy[reason].line(Date.now(), (suppressed) =>
      log.warn(
        {
          reason,
          address,
          open: this.#open,
          max: caps.max,
          perAddress: caps.perAddress,
          ...(suppressed ? { suppressed } : {}),
        },
        reason === 'total'
          ? 'connection refused: gateway.maxConnections reached'
          : 'connection refused: gateway.maxConnectionsPerAddress reached for this address',
      ),
    );
  }
}
