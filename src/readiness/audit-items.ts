/**
 * Section 5 of the readiness checklist, audit: one structured, hash-chained event per call,
 * redaction of secrets and PII, retention, export to a SIEM.
 */
import type { Config } from '../config/schema.ts';
import { item, list, type CheckItem, type Facts, type Status } from './checklist.ts';
import type { ExportState, ReadinessState } from './state.ts';
import { retentionInForce } from '../identity/dual-control.ts';

/**
 * An export is stalled when a record has waited longer than this after its cursor. A gateway sends a
 * new record within about a second and retries a failed batch at least once a minute (its backoff's
 * maximum), so a working export never leaves one waiting this long: no running gateway delivers to
 * it (the destination refuses or cannot be reached), or no gateway runs at all.
 */
const STALL_MS = 5 * 60_000;
/** Records behind at which an export that still moves is reported as behind. */
const BEHIND = 1000;

/** One export's state, judged: stalled fails, never delivered or far behind warns. */
function exportState(name: string, e: ExportState): { status: Status; why: string } {
  const n = `${e.lag}`;
  if (e.lag && e.waitingMs > STALL_MS)
    return {
      status: 'fail',
      why: `${name} has delivered ${e.delivered ? 'nothing' : 'no record ever, and nothing'} for ${Math.floor(e.waitingMs / 60_000)} min: ${n} record(s) waiting (the destination refuses or cannot be reached, or no gateway runs)`,
    };
  if (e.lag && !e.delivered) return { status: 'warn', why: `${name} has not delivered a record yet: ${n} waiting` };
  if (e.lag >= BEHIND) return { status: 'warn', why: `${name} is ${n} records behind` };
  return { status: 'pass', why: `${name} is up to date` };
}

/** The worst of the exports named, and what is wrong with each that is not up to date. */
export function exportsJudged(
  names: string[],
  exports: Record<string, ExportState>,
): { status: Status; problems: string[] } {
  const judged = names.map((n) => exportState(n, exports[n] ?? { lag: 0, delivered: false, waitingMs: 0 }));
  const problems = judged.filter((j) => j.status !== 'pass').map((j) => j.why);
  const worst = judged.some((j) => j.status === 'fail') ? 'fail' : 'warn';
  return { status: problems.length ? worst : 'pass', problems };
}

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
    retentionItem(a.retentionDays, state.retention),
    siemItem(siem, a.exports.length, state.audit),
  ];
}

const days = (n: number) => (n ? `${n} days` : 'forever');

/**
 * 5.3: the retention pruning applies, and where it comes from. Pruning never goes below the last
 * retention two people approved (`gatehouse audit retention`): the config's is in force unless it is
 * shorter, and then the approved one is, held over it.
 */
function retentionItem(configured: number, approved: ReadinessState['retention']): CheckItem {
  const title = 'retention is configured';
  const fix = 'set `audit.retentionDays`';
  const by =
    approved &&
    `asked by ${approved.requestedBy}, confirmed by ${approved.confirmedBy} at ${new Date(approved.confirmedAt).toISOString()}`;
  const inForce = retentionInForce(configured, approved?.days);
  if (approved && inForce !== configured)
    return item(
      '5.3',
      title,
      'warn',
      `${inForce ? `${inForce} days, pruned with checkpoints` : 'records are kept forever'}: the retention two people approved (${approved.baseline ? 'the baseline the first gateway recorded' : by}), held over the configured ${days(configured)} (\`audit.retentionDays\`)`,
      `set \`audit.retentionDays: ${approved.days}\`, or have two people approve ${days(configured)} (\`gatehouse audit retention --days ${configured}\`)`,
    );
  const floor =
    approved && !approved.baseline
      ? `; the least it may be is the ${days(approved.days)} two people approved (${by})`
      : '';
  if (!configured)
    return item('5.3', title, 'warn', `records are kept forever (\`audit.retentionDays: 0\`)${floor}`, fix);
  return item(
    '5.3',
    title,
    'pass',
    `${configured} days (\`audit.retentionDays\`), pruned with checkpoints${floor}`,
    fix,
  );
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

function siemItem(siem: string[], exports: number, au: ReadinessState['audit']): CheckItem {
  const title = 'audit events are exported to a SIEM';
  const fix = 'add an `audit.exports` entry (splunk-hec, elastic-bulk, otlp, or syslog)';
  if (siem.length) {
    if (!au)
      return item('5.4', title, 'fail', "the exports' positions cannot be read from the store", 'check the store');
    const { status, problems } = exportsJudged(siem, au.exports);
    if (status === 'pass') return item('5.4', title, 'pass', `exported to ${list(siem)}, up to date`, fix);
    return item(
      '5.4',
      title,
      status,
      list(problems),
      'see `audit export failing` in the gateway log and `gatehouse_audit_export_failures_total`; fix the destination (nothing is dropped: the export resumes where it stopped)',
    );
  }
  if (exports) return item('5.4', title, 'warn', 'only to local files', fix);
  return item('5.4', title, 'fail', 'no audit export is configured', fix);
}
