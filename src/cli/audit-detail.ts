/**
 * The DETAIL column of `gatehouse audit search`: what a record is about, in one bounded line, so an
 * operator reading a table of egress refusals sees the server, the target and the reason without
 * `--json`. Pure: the record in, a line out.
 */
import type { AuditEvent } from '../model/audit-event.ts';

/** Wide enough for `server=x target=host:port reason=...`, narrow enough for a terminal row. */
const MAX = 72;
/** One value at most this long: a long reason does not push out the rest. */
const MAX_VALUE = 40;

type Pair = [string, unknown];

const CALL_KINDS = new Set<AuditEvent['kind']>(['call.intent', 'call.outcome', 'call.refused', 'call.unknown']);

/** The detail's plain values (strings, numbers, booleans), in their order, but for `skip`. */
function plain(detail: Record<string, unknown> | undefined, skip: readonly string[]): Pair[] {
  return Object.entries(detail ?? {}).filter(
    ([k, v]) => !skip.includes(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'),
  );
}

/** The fields worth a glance, by kind: the rest is in `--json`. */
function pairs(e: AuditEvent): Pair[] {
  const d = e.detail;
  if (e.kind === 'egress.refused')
    return [
      ['server', e.server],
      ['target', d?.target],
      ['reason', d?.reason],
    ];
  if (e.kind === 'admin.action') return [['action', d?.action], ...plain(d, ['action'])];
  // The tool has a column of its own; what else says why a call went as it did.
  if (CALL_KINDS.has(e.kind))
    return [
      ['server', e.server],
      ['method', e.method === 'tools/call' ? undefined : e.method],
      ['rule', e.decision?.rule],
      ['stage', e.stage],
      ['approval', e.approval?.id],
    ];
  return [['server', e.server], ...plain(d, [])];
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** `server=files target=10.0.0.5:443 reason=private address`, at most MAX characters. */
export function recordDetail(e: AuditEvent): string {
  const shown = pairs(e)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${clip(String(v), MAX_VALUE)}`);
  return clip(shown.join(' '), MAX);
}
