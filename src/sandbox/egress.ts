/**
 * Egress for sandboxed servers that may reach the network. Such a server runs in a network namespace
 * with loopback only; its one way out is a unix socket bound into the sandbox, served here, in the
 * gateway, as an HTTP proxy (CONNECT for TLS and anything else over TCP, absolute-form requests for
 * plain HTTP). For each connection the proxy checks the destination against the server's allowlist,
 * resolves the name itself, refuses private, loopback, link-local, reserved and cloud metadata
 * addresses (an allowlist entry that is itself such an address literal opts that one address in;
 * metadata addresses never are), and connects to the very address it checked — so a name that
 * re-resolves elsewhere later (DNS rebinding) changes nothing. The gateway's own listener is refused
 * whatever the allowlist says (../util/own-listener.ts). Every refusal is reported.
 */
import { createServer, connect, isIP, type Server, type Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { rmSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { canonicalIp, reachesGateway, type Listening } from '../util/own-listener.ts';
import { type AllowEntry, allowHost, parseAllow } from '../util/allow-entry.ts';
import { type AddressKind, refusedAddress } from '../util/address-kind.ts';
import { embeddedIpv4 } from '../util/embedded-ipv4.ts';

export interface EgressRefusal {
  /** What the server asked for (host:port). */
  target: string;
  /** The resolved address that was refused, when resolution got that far. */
  address?: string;
  reason: 'not in allowlist' | 'gateway address' | AddressKind | LocalKind | 'unresolvable' | 'bad request';
}

/** This machine, reached with `allowLoopback` only. */
type LocalKind = 'loopback address' | 'unspecified address' | 'address of this machine';

function allowedBy(list: AllowEntry[], host: string, port: number): AllowEntry | undefined {
  const h = host.toLowerCase();
  return list.find(
    (e) =>
      e.port === port &&
      (e.host === h || (e.host.startsWith('*.') && h.endsWith(e.host.slice(1)) && h.length > e.host.length - 1)),
  );
}

/** What the gateway is, for the proxy: where it listens, and this machine's addresses. */
interface OwnSockets {
  listening: Listening[];
  interfaces: string[];
}

/** The addresses of this machine's interfaces, asked at each connection (an interface may come up later). */
function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address));
}

/** Decide one destination: the address to connect to, or why not. Exported for tests. */
export async function vet(
  list: AllowEntry[],
  host: string,
  port: number,
  own: OwnSockets = { listening: [], interfaces: [] },
  allowLoopback = false,
): Promise<{ address: string } | EgressRefusal> {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  // `localhost.` is `localhost`, as the allowlist's entries are read (../util/allow-entry.ts).
  const name = allowHost(host);
  const entry = allowedBy(list, name, port);
  if (!entry) return { target, reason: 'not in allowlist' };
  let addresses: string[];
  if (isIP(name)) addresses = [name];
  else {
    try {
      addresses = (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      return { target, reason: 'unresolvable' };
    }
  }
  for (const address of addresses) {
    // The gateway itself, before any opt-in: its connections from here arrive as loopback callers.
    if (reachesGateway(address, port, own.listening, own.interfaces))
      return { target, address, reason: 'gateway address' };
    const why = refusedAddress(address);
    // Naming an internal address literally in the allowlist lets that address in; a name never does,
    // nor an IPv6 form that carries an internal IPv4 address (NAT64, SIIT...): it names that one.
    const literal = isIP(entry.host) && entry.host === address.toLowerCase() && !embeddedIpv4(address);
    if (why && (why === 'metadata address' || !literal)) return { target, address, reason: why };
    // This machine (loopback, the unspecified address, an address of its own): whatever listens on
    // that port here, another gateway or a database, only with `allowLoopback`.
    const local = localAddress(address, own.interfaces);
    if (local && !allowLoopback) return { target, address, reason: local };
  }
  if (!addresses.length) return { target, reason: 'unresolvable' };
  return { address: addresses[0] };
}

/** Why `address` is this machine (a literal opt-in then also needs `allowLoopback`), or undefined. */
function localAddress(address: string, interfaces: string[]): LocalKind | undefined {
  const ip = canonicalIp(address) ?? address.toLowerCase();
  if (refusedAddress(ip) === 'loopback address') return 'loopback address';
  if (ip === '0.0.0.0' || ip === '::') return 'unspecified address';
  if (interfaces.some((i) => canonicalIp(i) === ip)) return 'address of this machine';
  return undefined;
}

const MAX_HEAD = 16 * 1024;
const CONNECT_MS = 10_000;
/** Sockets one sandbox may hold open through the proxy (both sides count): the gateway's descriptors are not its to exhaust. */
const MAX_OPEN = 512;

export class EgressProxy {
  readonly #server: Server;
  readonly #path: string;
  readonly #allow: AllowEntry[];
  readonly #allowLoopback: boolean;
  readonly #refused: (r: EgressRefusal) => void;
  readonly #listening: () => Listening[];
  readonly #open = new Set<Socket>();

  /**
   * `listening`: where the gateway listens now, asked at each connection. `allowLoopback`: a literal
   * entry may name this machine (`sandbox.network.allowLoopback`).
   */
  constructor(
    path: string,
    allow: string[],
    onRefused: (r: EgressRefusal) => void,
    listening: () => Listening[],
    allowLoopback = false,
  ) {
    this.#path = path;
    this.#allowLoopback = allowLoopback;
    this.#allow = allow.map(parseAllow);
    this.#refused = onRefused;
    this.#listening = listening;
    this.#server = createServer((s) => this.#accept(s));
  }

  listen(): Promise<void> {
    rmSync(this.#path, { force: true });
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#path, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const s of this.#open) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
    rmSync(this.#path, { force: true });
  }

  #accept(client: Socket): void {
    if (this.#open.size >= MAX_OPEN) return void client.destroy();
    this.#open.add(client);
    client.on('close', () => this.#open.delete(client));
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD) this.#refuse(client, { target: '?', reason: 'bad request' }, 400);
        return;
      }
      client.off('data', onData);
      client.pause();
      void this.#handle(client, head.subarray(0, end).toString('latin1'), head.subarray(end + 4));
    };
    client.on('data', onData);
  }

  async #handle(client: Socket, head: string, rest: Buffer): Promise<void> {
    const [requestLine, ...headers] = head.split('\r\n');
    const [method, uri, version] = requestLine.split(' ');
    let host: string;
    let port: number;
    let forward: Buffer | undefined;
    if (method === 'CONNECT') {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(uri ?? '');
      if (!m) return this.#refuse(client, { target: uri ?? '?', reason: 'bad request' }, 400);
      host = m[1].replace(/^\[|\]$/g, '');
      port = Number(m[2]);
    } else {
      let url: URL;
      try {
        url = new URL(uri ?? '');
      } catch {
        return this.#refuse(client, { target: uri ?? '?', reason: 'bad request' }, 400);
      }
      if (url.protocol !== 'http:' || !version?.startsWith('HTTP/'))
        return this.#refuse(client, { target: uri ?? '?', reason: 'bad request' }, 400);
      host = url.hostname.replace(/^\[|\]$/g, '');
      port = Number(url.port || 80);
      // Origin-form to the server; one request per connection, so every request is vetted.
      const kept = headers.filter((h) => !/^(proxy-[a-z-]*|connection|keep-alive)\s*:/i.test(h));
      forward = Buffer.concat([
        Buffer.from(
          `${method} ${url.pathname}${url.search} ${version}\r\n${[...kept, 'Connection: close'].join('\r\n')}\r\n\r\n`,
          'latin1',
        ),
        rest,
      ]);
    }
    const verdict = await vet(
      this.#allow,
      host,
      port,
      { listening: this.#listening(), interfaces: interfaceAddresses() },
      this.#allowLoopback,
    );
    if ('reason' in verdict) return this.#refuse(client, verdict, 403);
    const upstream = connect({ host: verdict.address, port, timeout: CONNECT_MS });
    this.#open.add(upstream);
    upstream.on('close', () => {
      this.#open.delete(upstream);
      client.destroy();
    });
    upstream.on('timeout', () => upstream.destroy());
    upstream.on('error', () => {
      if (client.writable && !upstream.readyState.startsWith('open'))
        client.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n');
      upstream.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      if (forward) upstream.write(forward);
      else {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (rest.length) upstream.write(rest);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }

  #refuse(client: Socket, r: EgressRefusal, status: 400 | 403): void {
    this.#refused(r);
    const body = `egress refused: ${r.reason}\n`;
    client.end(
      `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Request'}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
}

/**
 * What runs first inside a sandbox with an allowlist: a TCP listener on the sandbox's own loopback
 * that passes bytes to the proxy's socket (most clients speak to an HTTP proxy over TCP, not a unix
 * socket), then the server itself. It decides nothing; the proxy outside does. Plain JavaScript,
 * handed to bubblewrap as data, so it needs no file of the gateway inside the sandbox.
 */
export const RELAY_SOURCE = `
import { createServer, connect } from 'node:net';
import { spawn } from 'node:child_process';
const [port, socketPath, ...command] = process.argv.slice(2);
const relay = createServer((c) => {
  const u = connect(socketPath);
  c.pipe(u); u.pipe(c);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
});
relay.listen(Number(port), '127.0.0.1', () => {
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
  child.on('error', (e) => { process.stderr.write('sandbox: ' + e.message + '\\n'); process.exit(127); });
  child.on('exit', (code, signal) => process.exit(code ?? 128));
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
});
`;
