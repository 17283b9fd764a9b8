/**
 * Modes: `enforce | shadow | read_only | disabled`, set for the gateway, per tenant, per server and
 * per tool (exact namespaced name). The most specific setting wins — tool, then server, then tenant,
 * then gateway, then `enforce` — except `disabled`, which wins from anywhere in the chain: switching
 * off a tool, a server, a tenant or everything must work in one place, whatever else is configured.
 * (Tenant and server are independent axes; a server is treated as more specific than a tenant because
 * it is closer to the tool being called.)
 *
 * What each mode does to a decision is in evaluate.ts: `disabled` denies; `read_only` denies every
 * tool that is not READ; `shadow` turns an allow or approve of a non-READ tool into `shadow` (recorded,
 * simulated, nothing executed); `enforce` applies the policy as written.
 */
import type { ToolClass } from '../model/tool-class.ts';
import type { Mode, Modes } from './model.ts';

export interface ModeTarget {
  tenant: string;
  server: string;
  tool: string;
}

export interface ModeResolution {
  mode: Mode;
  /** Where it came from: `tool:<name>`, `server:<name>`, `tenant:<name>`, `gateway`, or `default`. */
  from: string;
}

function lookup(table: Readonly<Record<string, Mode>>, key: string): Mode | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The chain from most to least specific; absent levels are skipped. */
function chain(modes: Modes, t: ModeTarget): ModeResolution[] {
  const out: ModeResolution[] = [];
  const tool = lookup(modes.tools, t.tool);
  if (tool) out.push({ mode: tool, from: `tool:${t.tool}` });
  const server = lookup(modes.servers, t.server);
  if (server) out.push({ mode: server, from: `server:${t.server}` });
  const tenant = lookup(modes.tenants, t.tenant);
  if (tenant) out.push({ mode: tenant, from: `tenant:${t.tenant}` });
  if (modes.gateway) out.push({ mode: modes.gateway, from: 'gateway' });
  return out;
}

export function resolveMode(modes: Modes, t: ModeTarget): ModeResolution {
  const levels = chain(modes, t);
  return levels.find((l) => l.mode === 'disabled') ?? levels[0] ?? { mode: 'enforce', from: 'default' };
}

export function effectiveMode(modes: Modes, t: ModeTarget): Mode {
  return resolveMode(modes, t).mode;
}

/** Whether the mode in force lets a tool of class `cls` be seen at all: not `disabled`, and only READ under `read_only`. */
export function modeAllows(modes: Modes, t: ModeTarget, cls: ToolClass): boolean {
  const m = resolveMode(modes, t).mode;
  return m !== 'disabled' && !(m === 'read_only' && cls !== 'READ');
}
