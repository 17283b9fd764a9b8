/**
 * Section 6 of the readiness checklist, safe execution: bounded requests, enforceable input
 * schemas, a minimal environment for stdio servers, the sandbox, a read-only mode, a listener not
 * exposed without authentication, and its /metrics and /readyz not open to whoever reaches it. The item of a mode is ./mode-items.ts's, as in section 7.
 */
import type { Config, StdioServerConfig } from '../config/schema.ts';
import { sandboxReadiness, type SandboxFacts } from '../sandbox/readiness.ts';
import { SECRET_NAME } from '../config/static-secrets.ts';
import { exposedHost, item, list, type CheckItem, type Facts, type Server } from './checklist.ts';
import { exercisedModeItem } from './mode-items.ts';

export function executionItems(f: Facts, stdio: Array<StdioServerConfig & Server>, host: SandboxFacts): CheckItem[] {
  const { config, enabled } = f;
  const g = config.gateway;
  const loose = g.maxBodyBytes > 16 * 1024 * 1024 || g.maxJsonDepth > 128;
  const inheriting = enabled
    .filter((s) => s.transport === 'stdio' && (s.inheritEnv ?? []).some((v) => SECRET_NAME.test(v)))
    .map((s) => s.name);
  const sb = sandboxReadiness(stdio, config.gateway.stateDir, host);
  return [
    item(
      '6.1',
      'request size and nesting are bounded',
      loose ? 'warn' : 'pass',
      `bodies up to ${g.maxBodyBytes} bytes, JSON nesting up to ${g.maxJsonDepth}`,
      'keep `gateway.maxBodyBytes` at most 16 MiB and `gateway.maxJsonDepth` at most 128',
    ),
    schemaItem(f.state.uncheckable ?? [], f.present.length),
    item(
      '6.3',
      'stdio servers start with a minimal environment',
      inheriting.length ? 'warn' : 'pass',
      inheriting.length
        ? `secret-looking variables inherited by ${list(inheriting)}`
        : 'only the listed variables are inherited',
      'trim `servers[].inheritEnv`',
    ),
    item('6.4', 'tools run sandboxed with restricted egress', sb.status, sb.why, sb.fix),
    exercisedModeItem(
      f,
      '6.5',
      'a read-only mode exists',
      'read_only',
      '`gatehouse mode set read_only --gateway|--tenant|--server|--tool`, or `modes` in the policy',
    ),
    listenerItem(config),
    scrapeItem(config),
  ];
}

function schemaItem(uncheckable: string[], present: number): CheckItem {
  const title = "arguments are validated against each tool's input schema";
  const refreshFix = 'start the gateway, or run `gatehouse inventory --refresh`';
  if (uncheckable.length)
    return item(
      '6.2',
      title,
      'warn',
      `input schemas that cannot be enforced (every call to these tools is refused): ${list(uncheckable)}`,
      "ask the server's owner to fix the schema",
    );
  if (!present) return item('6.2', title, 'warn', 'no tools catalogued yet', refreshFix);
  return item(
    '6.2',
    title,
    'pass',
    `${present} tool schema(s) compile (JSON Schema 2020-12 per pinned definition), plus depth, length, size and prototype-key bounds`,
    refreshFix,
  );
}

function listenerItem(config: Config): CheckItem {
  const title = 'the listener is not exposed without authentication';
  const fix = 'configure an identity provider before exposing the gateway';
  const id = config.identity;
  const host = config.gateway.listen.host;
  // Without identity and without `allowUnauthenticated: loopback` nothing is served, proxy or not (as 2.1 says).
  if (!id && config.gateway.allowUnauthenticated !== 'loopback')
    return item(
      '6.6',
      title,
      'pass',
      `listening on ${host}; no identity provider and \`gateway.allowUnauthenticated: never\`: every caller is refused`,
      fix,
    );
  // Behind a reverse proxy every caller arrives from the proxy: without identity that is exposure.
  const proxies = id ? [] : (config.gateway.trustedProxies ?? []);
  if (proxies.length)
    return item(
      '6.6',
      title,
      'fail',
      `no identity provider, but requests forwarded by ${proxies.join(', ')} are served: the callers behind the proxy are not authenticated`,
      fix,
    );
  if (!exposedHost(config)) return item('6.6', title, 'pass', 'listening on loopback only', fix);
  if (id) return item('6.6', title, 'pass', `listening on ${host}; every caller authenticates`, fix);
  return item(
    '6.6',
    title,
    'warn',
    `listening on ${host}; unauthenticated callers are refused unless they come from loopback`,
    fix,
  );
}

/**
 * /metrics names every tool with its call counts, and /readyz (without the scrape token, counts only:
 * src/listeners/readyz-body.ts) whether the gateway is ready: both answer anyone who reaches the
 * listener unless `gateway.metricsToken` is set. Reached from off the machine (a listener off loopback)
 * or through a reverse proxy (`trustedProxies`), that is anyone the proxy serves.
 */
function scrapeItem(config: Config): CheckItem {
  const title = '/metrics and /readyz are not open to whoever reaches the listener';
  const fix =
    'set `gateway.metricsToken` (from the environment) and give it to the scraper and the readiness probe, or probe `/healthz` only';
  const g = config.gateway;
  if (g.metricsToken) return item('6.7', title, 'pass', '/metrics and /readyz need the scrape token', fix);
  const reach = reachedBy(config, g.trustedProxies ?? []);
  if (!reach)
    return item('6.7', title, 'pass', 'no scrape token, but listening on loopback only and behind no proxy', fix);
  const who = config.identity ? 'callers of /mcp authenticate, but ' : '';
  return item(
    '6.7',
    title,
    'warn',
    `${who}no \`gateway.metricsToken\` and ${reach}: /metrics shows anyone every tool name and its call counts, /readyz whether the gateway is ready`,
    fix,
  );
}

/** How callers other than this machine's reach the listener, in words ('' when none do). */
function reachedBy(config: Config, proxies: string[]): string {
  if (exposedHost(config)) return `the listener is on ${config.gateway.listen.host}`;
  return proxies.length ? `requests forwarded by ${list(proxies)} are served` : '';
}
