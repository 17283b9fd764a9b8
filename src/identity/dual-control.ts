/**
 * Two-person control for operations that destroy evidence (pruning the audit trail): one person
 * asks, a different person confirms, and only the confirmation runs it. People, not credentials: the
 * same subject is the same person whatever key or token they hold, and a service key (no person) can
 * do neither. A request expires unconfirmed after a day. Both steps are recorded by the caller.
 */
import { randomBytes } from 'node:crypto';
import type { DualControlRecord, DualControlStore } from '../storage/types.ts';

export const DUAL_CONTROL_TTL_MS = 24 * 3_600_000;

export type DualControlResult =
  | { ok: true; record: DualControlRecord }
  | { ok: false; code: 'not_found' | 'expired' | 'not_pending' | 'same_person' | 'other_action' | 'raced'; message: string };

export async function requestDual(store: DualControlStore, action: string, params: Record<string, unknown>, person: string, now = Date.now()): Promise<DualControlRecord> {
  const r: DualControlRecord = { id: `dc_${randomBytes(12).toString('hex')}`, action, params, requestedBy: person, requestedAt: now, expiresAt: now + DUAL_CONTROL_TTL_MS, status: 'pending', confirmedBy: null, confirmedAt: null };
  await store.create(r);
  return r;
}

/** The second person's confirmation: the request as confirmed, to be run now, or why not. */
export async function confirmDual(store: DualControlStore, id: string, action: string, person: string, now = Date.now()): Promise<DualControlResult> {
  const r = await store.get(id);
  if (!r) return { ok: false, code: 'not_found', message: `no pending request \`${id}\`` };
  if (r.action !== action) return { ok: false, code: 'other_action', message: `request \`${id}\` is for ${r.action}` };
  if (r.status !== 'pending') return { ok: false, code: 'not_pending', message: `request \`${id}\` is ${r.status}` };
  if (r.expiresAt <= now) return { ok: false, code: 'expired', message: `request \`${id}\` expired unconfirmed` };
  if (r.requestedBy === person) return { ok: false, code: 'same_person', message: 'a second person must confirm: you asked for this yourself' };
  if (!(await store.confirm(id, person, now))) return { ok: false, code: 'raced', message: `request \`${id}\` was confirmed meanwhile` };
  return { ok: true, record: { ...r, status: 'done', confirmedBy: person, confirmedAt: now } };
}
