/**
 * `/metrics` and `/readyz` can require a credential of their own (`gateway.metricsToken`): a
 * Prometheus scraper or a load balancer holds that token, not a user's. Compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import { authorizationHeader } from './authorization-header.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Throws 401 unless the request carries `Authorization: Bearer <token>` (no token configured: open). */
export function requireScrapeToken(req: IncomingMessage, token: string | undefined): void {
  if (!token) return;
  const m = /^Bearer +(\S+) *$/i.exec(authorizationHeader(req) ?? '');
  if (!m || !timingSafeEqual(digest(m[1]), digest(token)))
    throw new GatehouseError(
      'E_UNAUTHENTICATED',
      'authentication required: this endpoint needs the scrape token (gateway.metricsToken)',
    );
}
