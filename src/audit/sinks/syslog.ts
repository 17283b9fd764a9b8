/**
 * SyslogSink: RFC 5424 (or CEF inside an RFC 5424 header, as ArcSight / Sentinel / QRadar collectors
 * expect) over TCP with octet-counting framing (RFC 6587 §3.4.1: `<byte length> <message>`) or UDP
 * (RFC 5426: one message per datagram).
 *
 * Delivery caveats, by transport (documented, not hidden):
 * - TCP: `send` resolves once the kernel accepted the bytes. Syslog has no acknowledgement, so a
 *   receiver that dies with data in flight can lose it without us knowing (RELP would fix that; not
 *   implemented). Any socket error or close drops the connection; the next send reconnects.
 * - UDP: fire and forget; only local send errors are seen. A message too large for one datagram is
 *   refused (SinkRejected) rather than truncated: an audit record is never cut.
 */
import { connect, isIPv6, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { hostname as osHostname } from 'node:os';
import type { AuditEvent } from '../../model/audit-event.ts';
import { cef, rfc5424, syslogHeader, type SyslogOptions } from './formats.ts';
import { SinkError, SinkRejected, type Sink } from './sink.ts';

export interface SyslogSinkOptions {
  name?: string;
  host: string;
  port: number;
  transport: 'tcp' | 'udp';
  format: 'rfc5424' | 'cef';
  appName?: string;
  hostname?: string;
  /** Default 13 (log audit). */
  facility?: number;
  procId?: string;
  /** Connect and write timeout. Default 10 s. */
  timeoutMs?: number;
  /** UDP only: the largest datagram sent. Default 65 000 bytes. */
  maxDatagram?: number;
}

/** Octet-counting frame (RFC 6587 §3.4.1): the byte length, a space, the message. */
export function frame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

export class SyslogSink implements Sink {
  readonly name: string;
  readonly #o: SyslogSinkOptions;
  readonly #fmt: SyslogOptions;
  #tcp: Socket | undefined;
  #udp: UdpSocket | undefined;

  constructor(opts: SyslogSinkOptions) {
    this.#o = opts;
    this.name = opts.name ?? `syslog:${opts.transport}:${opts.format}`;
    this.#fmt = {
      appName: opts.appName ?? 'gatehouse',
      hostname: opts.hostname ?? osHostname(),
      facility: opts.facility ?? 13,
      procId: opts.procId,
    };
  }

  /** The syslog message (unframed) for one record. */
  message(e: AuditEvent): string {
    // CEF rides in MSG with no structured data ('-'), the common "CEF over syslog" shape.
    return this.#o.format === 'cef' ? `${syslogHeader(e, this.#fmt)} - ${cef(e)}` : rfc5424(e, this.#fmt);
  }

  async send(batch: AuditEvent[]): Promise<void> {
    if (batch.length === 0) return;
    if (this.#o.transport === 'udp') return this.#sendUdp(batch);
    const socket = await this.#connect();
    const data = Buffer.concat(batch.map((e) => frame(this.message(e))));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SinkError(`${this.name}: write timed out after ${this.#timeout} ms`));
      }, this.#timeout);
      socket.write(data, (err) => {
        clearTimeout(timer);
        if (!err) return resolve();
        socket.destroy();
        reject(new SinkError(`${this.name}: write failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
    });
  }

  async close(): Promise<void> {
    const tcp = this.#tcp;
    this.#tcp = undefined;
    // end() flushes what is queued, then the socket is destroyed (no waiting on the receiver's FIN).
    if (tcp && !tcp.destroyed)
      await new Promise<void>((resolve) => tcp.once('close', () => resolve()).end(() => tcp.destroy()));
    const udp = this.#udp;
    this.#udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  get #timeout(): number {
    return this.#o.timeoutMs ?? 10_000;
  }

  async #connect(): Promise<Socket> {
    const cur = this.#tcp;
    if (cur && !cur.destroyed && cur.writable && cur.readyState === 'open') return cur;
    cur?.destroy();
    this.#tcp = undefined;
    const socket = connect({ host: this.#o.host, port: this.#o.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), this.#timeout);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new SinkError(`${this.name}: connect ${this.#o.host}:${this.#o.port} failed: ${err.code ?? err.message}`),
        );
      });
    });
    // After connecting: errors close the socket (the next send reconnects); anything the receiver
    // sends is ignored; its FIN ends the connection.
    socket.on('error', () => socket.destroy());
    socket.on('data', () => {});
    socket.on('close', () => {
      if (this.#tcp === socket) this.#tcp = undefined;
    });
    this.#tcp = socket;
    return socket;
  }

  async #sendUdp(batch: AuditEvent[]): Promise<void> {
    const max = this.#o.maxDatagram ?? 65_000;
    const msgs = batch.map((e) => Buffer.from(this.message(e), 'utf8'));
    const big = msgs.findIndex((m) => m.length > max);
    if (big >= 0)
      throw new SinkRejected(
        `${this.name}: record ${batch[big].stream}:${batch[big].seq} is ${msgs[big].length} bytes, over the ${max}-byte datagram limit`,
      );
    if (!this.#udp) {
      const udp = createSocket(isIPv6(this.#o.host) ? 'udp6' : 'udp4');
      udp.on('error', () => {}); // surfaced through the send callbacks
      this.#udp = udp;
    }
    const udp = this.#udp;
    for (const m of msgs) {
      await new Promise<void>((resolve, reject) =>
        udp.send(m, this.#o.port, this.#o.host, (err) =>
          err
            ? reject(
                new SinkError(`${this.name}: udp send failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`),
              )
            : resolve(),
        ),
      );
    }
  }
}
