/**
 * Where a person's browser reaches this gateway's pages (an approval, the upstream OAuth callback):
 * `approvals.baseUrl`, else `gateway.publicUrl`, else the address the gateway listens on. `gatehouse
 * stdio` listens on none: its pages are those of `gatehouse start` with the same config, at the
 * configured listen address (an approval made through the bridge pointed to a relative URL).
 */
import type { Config } from './schema.ts';

export function pagesBaseUrl(config: Pick<Config, 'approvals' | 'gateway'>, listening = ''): string {
  const base =
    config.approvals.baseUrl ??
    config.gateway.publicUrl ??
    (listening || `http://${config.gateway.listen.host}:${config.gateway.listen.port}`);
  return base.replace(/\/+$/, '');
}
