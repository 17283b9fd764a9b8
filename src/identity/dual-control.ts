/**
 * Two-person control for operations that destroy evidence (pruning the audit trail): one person
 * asks, a different person confirms, and only the confirmation runs it. People, not credentials: the
 * same subject is the same person whatever key or token they hold, and a service key (no person) can
 * do neither. A request expires unconfirmed after a day. Both steps are recorded by the caller.
 */
import { randomBytes } from 'node:crypto';
import type { DualControlRecord, DualControlStore } from '../storage/types.ts';

const DUAL_CONTROL_TTL_MS = 24 * 3_600_000;

export type DualControlResult =
  | { ok: true; record: DualControlRecord }
  | {
      ok: false;
      code: 'not_found' | 'expired' | 'not_pending' | 'same_person' | 'other_action' | 'raced';
      message: string;
    };

export async function requestDual(
  store: DualControlStore,
  action: string,
  params: Record<string, unknown>,
  person: string,
  now = Date.now(),
): Promise<DualControlRecord> {
  const r: DualControlRecord = {
    id: `dc_${randomBytes(12).toString('hex')}`,
    action,
    params,
    requestedBy: person,
    requestedAt: now,
    expiresAt: now + DUAL_CONTROL_TTL_MS,
    status: 'pending',
    confirmedBy: null,
    confirmedAt: null,
  };
  await store.create(r);
  return r;
}

/** The second person's confirmation: the request as confirmed, to be run now, or why not. */
export async function confirmDual(
  store: DualControlStore,
  id: string,
  action: string,
  person: string,
  now = Date.now(),
): Promise<DualControlResult> {
  const r = await store.get(id);
  if (!r) return { ok: false, code: 'not_found', message: `no pending request \`${id}\`` };
  if (r.action !== action) return { ok: false, code: 'other_action', message: `request \`${id}\` is for ${r.action}` };
  if (r.status !== 'pending') return { ok: false, code: 'not_pending', message: `request \`${id}\` is ${r.status}` };
  if (r.expiresAt <= now) return { ok: false, code: 'expired', message: `request \`${id}\` expired unconfirmed` };
  if (r.requestedBy === person)
    return { ok: false, code: 'same_person', message: 'a second person must confirm: you asked for this yourself' };
  if (!(await store.confirm(id, person, now)))
    return { ok: false, code: 'raced', message: `request \`${id}\` was confirmed meanwhile` };
  return { ok: true, record: { ...r, status: 'done', confirmedBy: person, confirmedAt: now } };
}

const forever = (days: number): number => (days === 0 ? Number.POSITIVE_INFINITY : days);

/**
 * The last audit retention two people approved (or the baseline the first gateway recorded:
 * `params.baseline`), undefined before either. Read only.
 */
export async function approvedRetention(store: Pick<DualControlStore, 'list'>): Promise<DualControlRecord | undefined> {
  return (await store.list('done'))
    .filter((r) => r.action === 'audit.retention')
    .sort((a, b) => (a.confirmedAt ?? 0) - (b.confirmedAt ?? 0))
    .at(-1);
}

/** The retention pruning applies: the configured one, never shorter than the approved one. 0 is forever. Pure. */
export function retentionInForce(configured: number, approved: number | undefined): number {
  if (approved === undefined) return configured;
  const days = Math.max(forever(configured), forever(approved));
  return days === Number.POSITIVE_INFINITY ? 0 : days;
}

/**
 * The audit retention actually applied: never shorter than the last retention two people approved
 * (`audit.retention` requests), so one person editing the config cannot make the gateway prune away
 * records. The first retention seen is the baseline. 0 means forever. `onHeld` is told when the
 * configured retention is shorter than the approved one (the approved one is kept).
 */
export async function effectiveRetentionDays(
  store: DualControlStore,
  configured: number,
  onHeld: (approved: number) => void = () => {},
  now = Date.now(),
): Promise<number> {
  const approved = await approvedRetention(store);
  if (!approved) {
    await store.create({
      id: `dc_${randomBytes(12).toString('hex')}`,
      action: 'audit.retention',
      params: { days: configured, baseline: true },
      requestedBy: 'config',
      requestedAt: now,
      expiresAt: now,
      status: 'done',
      confirmedBy: 'config',
      confirmedAt: now,
    });
    return configured;
  }
  const floor = Number(approved.params.days);
  if (forever(configured) < forever(floor)) onHeld(floor);
  return retentionInForce(configured, floor);
}
