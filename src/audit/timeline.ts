/**
 * A run reconstructed: its records in order, each call's intent joined with its outcome (or its
 * refusal, or `unknown`), with times and latency. Pure: the CLI and the admin API read the records.
 */
import type { AuditEvent } from '../model/audit-event.ts';

export interface TimelineEntry {
  time: string;
  kind: AuditEvent['kind'];
  tool?: string;
  class?: string;
  actor?: string;
  decision?: string;
  outcome?: string;
  error?: string;
  latencyMs?: number;
  requestId?: string;
  id: string;
  intent?: string;
  /** An approval's record: which approval, and its step (requested, diff.read, approved, denied, used, refused). */
  approval?: { id: string; step: string };
}

/** The approval a record tells of, and the step: the timeline shows the request, the diff read, the decision and the use. */
function approvalStep(e: AuditEvent): TimelineEntry['approval'] {
  if (e.kind !== 'approval.event' || !e.approval?.id) return undefined;
  const step = e.detail?.event;
  return { id: e.approval.id, step: typeof step === 'string' ? step : e.approval.status };
}

/** By time; records of one stream with the same time by their sequence number. */
function byTime(a: AuditEvent, b: AuditEvent): number {
  if (a.time < b.time) return -1;
  if (a.time > b.time) return 1;
  return a.stream === b.stream ? a.seq - b.seq : 0;
}

/**
 * How a record's actor is shown: `subject@tenant` for a caller; the CLI's own name (`cli:<user>@<host>`,
 * or `--by`) as it is, with the tenant acted on said apart (`cli:root@vm@default` read as a subject
 * `cli:root` of tenant `vm@default`, or worse).
 */
export function actorLabel(a: NonNullable<AuditEvent['actor']>): string {
  if (a.via !== 'cli' || a.issuer) return `${a.subject}@${a.tenant}`;
  return a.tenant && a.tenant !== '*' ? `${a.subject} (cli, tenant ${a.tenant})` : `${a.subject} (cli)`;
}

export function timeline(events: AuditEvent[]): TimelineEntry[] {
  const sorted = [...events].sort(byTime);
  return sorted.map((e) => ({
    time: e.time,
    kind: e.kind,
    tool: e.tool,
    class: e.class,
    actor: e.actor ? actorLabel(e.actor) : undefined,
    decision: e.decision ? `${e.decision.effect} (${e.decision.rule})` : undefined,
    outcome: e.outcome,
    error: e.error,
    latencyMs: e.latencyMs,
    requestId: e.requestId,
    id: e.id,
    intent: e.intent,
    approval: approvalStep(e),
  }));
}

/** `2026-11-29T10:00:00Z`, `2026-11-29`, or relative to now: `30m`, `24h`, `7d`. */
export function parseTime(text: string, now = Date.now()): number | undefined {
  const rel = /^(\d{1,6})([mhd])$/.exec(text);
  if (rel) return now - Number(rel[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'm' | 'h' | 'd'];
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}
