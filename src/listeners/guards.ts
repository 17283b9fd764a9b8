/**
 * Transport-level checks every MCP HTTP request passes before its body is read: Host (DNS
 * rebinding), Origin (browsers), caller address (unauthenticated access only from loopback), and
 * the body itself (size cap while reading, strict JSON). Pure where possible.
 */
import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
export { decodeHeaderValue } from '../protocol/header-value.ts';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export interface GuardConfig {
  port: number;
  publicUrl?: string;
  allowedOrigins: string[];
  allowedHosts: string[];
}

export function allowedHostSet(cfg: GuardConfig): Set<string> {
  const hosts = new Set<string>();
  for (const n of LOOPBACK_NAMES) {
    hosts.add(`${n}:${cfg.port}`);
    if (cfg.port === 80) hosts.add(n);
  }
  if (cfg.publicUrl) hosts.add(new URL(cfg.publicUrl).host);
  for (const h of cfg.allowedHosts) hosts.add(h.toLowerCase());
  return hosts;
}

export function allowedOriginSet(cfg: GuardConfig): Set<string> {
  const origins = new Set<string>();
  for (const n of LOOPBACK_NAMES) origins.add(`http://${n}:${cfg.port}`);
  if (cfg.publicUrl) origins.add(new URL(cfg.publicUrl).origin);
  for (const o of cfg.allowedOrigins) origins.add(o.replace(/\/+$/, ''));
  return origins;
}

export function checkHost(host: string | undefined, allowed: Set<string>): void {
  if (!host || !allowed.has(host.toLowerCase())) throw new GatehouseError('E_HOST');
}

/** A present Origin must be one we serve; `null` (sandboxed frames, file:) is refused. */
export function checkOrigin(origin: string | undefined, allowed: Set<string>): void {
  if (origin === undefined) return;
  if (!allowed.has(origin)) throw new GatehouseError('E_ORIGIN');
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Read the body up to `max` bytes; beyond that, refuse without reading the rest. */
export function readBody(req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(new GatehouseError('E_BODY_TOO_LARGE', `request body larger than ${max} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        reject(new GatehouseError('E_BODY_TOO_LARGE', `request body larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function acceptsJsonAndSse(accept: string | undefined): { ok: boolean; sse: boolean } {
  if (!accept) return { ok: true, sse: true };
  const a = accept.toLowerCase();
  const any = a.includes('*/*');
  const json = any || a.includes('application/json');
  const sse = any || a.includes('text/event-stream');
  return { ok: json || sse, sse };
}
