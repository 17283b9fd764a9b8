/**
 * The console's audit pages: the search over the trail, one run's timeline, and the proof of one
 * record's place in its hash chain.
 */
import type { AuditEvent } from '../model/audit-event.ts';
import { actorLabel, type TimelineEntry } from '../audit/timeline.ts';
import { escapeHtml, ident, line, text } from '../approvals/page.ts';
import { identifier } from '../util/marks.ts';
import { layout, type View } from './page-frame.ts';

export interface AuditFilters {
  run?: string;
  tenant?: string;
  tool?: string;
  outcome?: string;
  kind?: string;
  since?: string;
  until?: string;
  after?: number;
}

export function auditPage(
  v: View,
  f: AuditFilters,
  rows: Array<{ position: number; event: AuditEvent }>,
  next: number | undefined,
): string {
  const input = (name: keyof AuditFilters, label: string) =>
    `<label>${label}<input name="${name}" value="${escapeHtml(String(f[name] ?? ''))}" maxlength="300"></label>`;
  const outcomes = ['', 'ok', 'tool_error', 'error', 'refused', 'input_required', 'unknown', 'shadow'];
  const form = [
    '<form method="get" action="/console/audit" class="card">',
    input('run', 'Run'),
    v.platform ? input('tenant', 'Tenant') : '',
    input('tool', 'Tool'),
    `<label>Outcome<select name="outcome">${outcomes.map((o) => `<option${o === (f.outcome ?? '') ? ' selected' : ''} value="${o}">${o || 'any'}</option>`).join('')}</select></label>`,
    input('kind', 'Kind'),
    input('since', 'Since'),
    input('until', 'Until'),
    '<button type="submit">Search</button>',
    '</form>',
  ].join('\n');
  const trs = rows.map(
    ({ position, event: e }) =>
      `<tr><td>${text(position)}</td><td>${text(e.time)}</td><td>${text(e.kind)}${typeof e.detail?.action === 'string' ? ` <small>${line(e.detail.action)}</small>` : ''}</td><td>${e.tool ? `<code>${ident(e.tool)}</code>` : ''}</td><td>${e.actor ? ident(actorLabel(e.actor)) : ''}</td><td class="o-${escapeHtml(e.outcome ?? '')}">${text(e.outcome ?? '')}${e.error ? ` <small>${line(e.error)}</small>` : ''}</td><td>${e.decision ? line(`${e.decision.effect} (${e.decision.rule})`) : ''}</td><td>${e.runId ? `<a href="/console/audit/runs/${escapeHtml(encodeURIComponent(e.runId))}">${ident(e.runId.slice(0, 24))}</a>` : ''}</td><td><a href="/console/audit/chain/${escapeHtml(encodeURIComponent(e.stream))}/${escapeHtml(String(e.seq))}">proof</a></td></tr>`,
  );
  const q = new URLSearchParams(
    Object.entries({ ...f, after: next })
      .filter(([, x]) => x !== undefined && x !== '')
      .map(([k, x]) => [k, String(x)] as [string, string]),
  );
  return layout(
    v,
    'audit',
    'Audit',
    [
      form,
      trs.length
        ? `<table class="audit"><thead><tr><th>#</th><th>Time</th><th>Kind</th><th>Tool</th><th>Actor</th><th>Outcome</th><th>Decision</th><th>Run</th><th>Chain</th></tr></thead><tbody>${trs.join('')}</tbody></table>`
        : noneFound(next),
      next !== undefined
        ? `<p class="pager"><a href="/console/audit?${escapeHtml(q.toString())}">${trs.length ? 'Next page' : 'Search on'}</a></p>`
        : '',
      v.platform ? '' : `<p class="muted">Records of tenant ${text(v.tenant)} only.</p>`,
    ].join('\n'),
  );
}

/** An empty page: nothing matched, or nothing up to where the search stopped (it goes on from `next`). */
function noneFound(next: number | undefined): string {
  if (next === undefined) return '<p>No records match.</p>';
  return `<p>No records match up to record #${text(next)}: a search stops after a while, so that it never holds up the gateway.</p>`;
}

export function runPage(v: View, run: string, entries: TimelineEntry[], next?: number): string {
  const trs = entries.map(
    (e) =>
      `<tr><td>${text(e.time)}</td><td>${text(e.kind)}${e.approval ? ` <small>${line(e.approval.step)} <code>${line(e.approval.id)}</code></small>` : ''}</td><td>${e.tool ? `<code>${ident(e.tool)}</code>` : ''}</td><td>${text(e.class ?? '')}</td><td>${ident(e.actor ?? '')}</td><td>${line(e.decision ?? '')}</td><td class="o-${escapeHtml(e.outcome ?? '')}">${text(e.outcome ?? '')}${e.error ? ` <small>${line(e.error)}</small>` : ''}</td><td>${e.latencyMs === undefined ? '' : `${text(e.latencyMs)} ms`}</td></tr>`,
  );
  return layout(
    v,
    'audit',
    `Run ${identifier(run)}`,
    `<p><a href="/console/audit">Back to the search</a></p><table class="timeline"><thead><tr><th>Time</th><th>Kind</th><th>Tool</th><th>Class</th><th>Actor</th><th>Decision</th><th>Outcome</th><th>Latency</th></tr></thead><tbody>${trs.join('')}</tbody></table>${
      next === undefined
        ? ''
        : `<p class="pager"><a href="/console/audit/runs/${escapeHtml(encodeURIComponent(run))}?after=${next}">Later records</a></p>`
    }`,
  );
}

export interface ChainProof {
  record: AuditEvent;
  /** The record's own hash recomputed over its content. */
  hashOk: boolean;
  /** The record before it in its stream (undefined: the first, or pruned to a checkpoint). */
  before?: { seq: number; hash: string; linked: boolean };
  /** The checkpoint kept when the records before were pruned. */
  checkpoint?: { seq: number; hash: string; linked: boolean };
  /** The record after it (undefined: the latest so far). */
  after?: { seq: number; prev: string; linked: boolean };
}

/** One link of the chain, checked: verified or broken. */
function mark(ok: boolean): string {
  return ok ? '<strong class="st-pass">verified</strong>' : '<strong class="st-fail">BROKEN</strong>';
}

/** How the record links to the one before it: that record, the checkpoint kept after pruning, or nothing. */
function previousLink(p: ChainProof): string {
  if (p.before) return `${mark(p.before.linked)} <small>(the hash of seq ${text(p.before.seq)})</small>`;
  if (p.checkpoint)
    return `${mark(p.checkpoint.linked)} <small>(the checkpoint kept for pruned seq ${text(p.checkpoint.seq)})</small>`;
  if (p.record.seq === 1) return '<small>(the first record of its stream)</small>';
  return '<strong class="st-fail">the record before it is missing</strong>';
}

export function chainPage(v: View, p: ChainProof): string {
  const e = p.record;
  const rows = [
    [
      'Record',
      `<code>${text(e.id)}</code>, ${text(e.kind)}${e.tool ? ` <code>${ident(e.tool)}</code>` : ''} at ${text(e.time)}`,
    ],
    ['Stream', `<code>${line(e.stream)}</code>, seq ${text(e.seq)}`],
    [
      'Hash',
      `<code>${text(e.hash)}</code> ${mark(p.hashOk)} <small>(SHA-256 over the record's content and the hash before it)</small>`,
    ],
    ['Previous', `<code>${text(e.prev)}</code> ${previousLink(p)}`],
    [
      'Next',
      p.after
        ? `seq ${text(p.after.seq)} names this hash as its previous: ${mark(p.after.linked)}`
        : '<small>the latest record of its stream so far</small>',
    ],
  ];
  return layout(
    v,
    'audit',
    'Chain proof',
    `<table class="proof"><tbody>${rows.map(([k, x]) => `<tr><th scope="row">${k}</th><td>${x}</td></tr>`).join('')}</tbody></table><p class="muted">The whole trail is checked by <code>gatehouse audit verify</code> (a platform admin).</p><p><a href="/console/audit">Back to the search</a></p>`,
  );
}
