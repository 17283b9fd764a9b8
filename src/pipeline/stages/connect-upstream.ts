/**
 * connect: the caller's own connection to the server — its tenant's (its own, for per-user upstream
 * OAuth) — holding that tenant's secrets, resolved now from the secrets manager or its cache. Nothing
 * is ever answered from another tenant's connection. Unavailable credentials refuse the request here,
 * before any record says it went upstream.
 */
import { callerToken } from '../../identity/authenticator.ts';
import type { Stage } from '../types.ts';
import { routeOf, serverConfigOf } from './needs.ts';

export const connectUpstream: Stage = async (s, { credentials }) => {
  const cfg = serverConfigOf(credentials, routeOf(s).server);
  const p = s.ctx.principal;
  const held = await credentials.pool.get(cfg, p.tenant, p.subject, callerToken(p));
  s.up = held.up;
  s.injected = held.values;
};
