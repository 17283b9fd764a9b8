/**
 * Section 5 of the readiness checklist, audit: one structured, hash-chained event per call,
 * redaction of secrets and PII, retention, export to a SIEM.
 */
import type { Config } from '../config/schema.ts';
import { item, list, type CheckItem, type Facts } from './checklist.ts';
import type { ReadinessState } from './state.ts';

const DURABILITY = {
  'process-crash':
    'each acknowledged record survives a crash of the gateway process, not a power cut (`audit.durability: process-crash`)',
  'power-loss': 'each acknowledged record is on disk and survives a power cut (`audit.durability: power-loss`)',
} as const;

export function auditItems({ config, state }: Facts): CheckItem[] {
  const a = config.audit;
  const siem = a.exports.filter((e) => e.type !== 'file').map((e) => e.name);
  return [
    auditTrailItem(config, state.audit),
    item(
      '5.2',
      'secrets and PII are redacted from what is recorded',
      a.arguments === 'redacted' && !a.redact.fields.length && !a.redact.paths.length ? 'warn' : 'pass',
      `arguments: ${a.arguments}, results: ${a.results}; ${a.redact.fields.length + a.redact.paths.length ? `${a.redact.fields.length} PII field(s), ${a.redact.paths.length} path(s) configured` : 'built-in secret detection only, no PII fields or paths configured'}`,
      'list your PII in `audit.redact.fields` / `audit.redact.paths`, or keep only shapes (`audit.arguments: shape`)',
    ),
    item(
      '5.3',
      'retention is configured',
      a.retentionDays ? 'pass' : 'warn',
      a.retentionDays ? `${a.retentionDays} days, pruned with checkpoints` : 'records are kept forever',
      'set `audit.retentionDays`',
    ),
    siemItem(siem, a.exports.length),
  ];
}

function auditTrailItem(config: Config, au: ReadinessState['audit']): CheckItem {
  const title = 'one structured audit event per call';
  if (!au) return item('5.1', title, 'fail', 'the audit trail cannot be read from the store', 'check the store');
  if (au.unclosed)
    return item(
      '5.1',
      title,
      'warn',
      `${au.unclosed} call(s) recorded as started more than five minutes ago have no outcome yet (still running, or their gateway died: a running gateway records a dead one's calls as unknown within about 15 s)`,
      'start a gateway on this store if none runs, then `gatehouse audit verify`',
    );
  const a = config.audit;
  const failOpen = a.readWhenUnavailable === 'allow';
  return item(
    '5.1',
    title,
    failOpen ? 'warn' : 'pass',
    `${au.records} record(s): a write-ahead intent and an outcome (or a refusal) per request, hash-chained, ${DURABILITY[a.durability ?? 'process-crash']}${failOpen ? '; READ calls go on without a record when the trail cannot be written (`audit.readWhenUnavailable: allow`)' : '; requests are refused when it cannot be written'}`,
    'set `audit.readWhenUnavailable: refuse`',
  );
}

function siemItem(siem: string[], exports: number): CheckItem {
  const title = 'audit events are exported to a SIEM';
  const fix = 'add an `audit.exports` entry (splunk-hec, elastic-bulk, otlp, or syslog)';
  if (siem.length) return item('5.4', title, 'pass', `exported to ${list(siem)}`, fix);
  if (exports) return item('5.4', title, 'warn', 'only to local files', fix);
  return item('5.4', title, 'fail', 'no audit export is configured', fix);
}
