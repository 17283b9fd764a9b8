/**
 * The console's pages: complete HTML documents with no JavaScript and no inline style, rendered on
 * the server. Every value goes through the approval page's escaping (`text`, `line`, `block`): hidden
 * characters made visible, HTML escaped; values only ever sit in element content or double-quoted
 * attributes. Every form that changes something carries the session's CSRF token.
 */
import type { InventoryRow, ReviewChange } from '../inventory/report.ts';
import type { CheckItem } from '../readiness/checklist.ts';
import type { ApprovalRequest } from '../model/approval.ts';
import type { ApiKeyRecord, IncidentRecord, ModeRecord } from '../storage/types.ts';
import type { AuditEvent } from '../model/audit-event.ts';
import type { TimelineEntry } from '../audit/timeline.ts';
import { block, classBadge, diffLineClass, escapeHtml, htmlDocument, line, safeUrl, text } from '../approvals/page.ts';
import { CONSOLE_CSS_PATH } from './css.ts';
import { TENANT_KEY_MAX_DAYS } from '../identity/api-keys.ts';

export interface View {
  /** Who is signed in, as shown. */
  who: string;
  /** "platform admin" or "tenant admin of t1". */
  role: string;
  platform: boolean;
  tenant: string;
  csrf: string;
  /** A message after an action (ok) or a refusal (err). */
  flash?: { kind: 'ok' | 'err'; message: string };
}

const NAV = [
  ['inventory', 'Inventory'],
  ['approvals', 'Approvals'],
  ['modes', 'Modes'],
  ['incidents', 'Incidents'],
  ['audit', 'Audit'],
  ['keys', 'Keys'],
  ['readiness', 'Readiness'],
] as const;

type PageName = (typeof NAV)[number][0];

function iso(ms: number | null | undefined): string {
  return ms === null || ms === undefined || !Number.isFinite(ms)
    ? '—'
    : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function csrfField(v: View): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">`;
}

function doc(title: string, body: string, head = ''): string {
  return htmlDocument({ title: `${title} · Gatehouse console`, css: CONSOLE_CSS_PATH, body, head });
}

function layout(v: View, page: PageName, title: string, content: string): string {
  const nav = NAV.map(
    ([p, label]) => `<a href="/console/${p}"${p === page ? ' class="here" aria-current="page"' : ''}>${label}</a>`,
  ).join('');
  const flash = v.flash ? `<p class="flash ${v.flash.kind}" role="status">${text(v.flash.message)}</p>` : '';
  return doc(
    title,
    [
      '<header>',
      '<span class="brand">Gatehouse</span>',
      `<nav>${nav}</nav>`,
      `<span class="who">Signed in as <strong>${line(v.who)}</strong> · ${text(v.role)}</span>`,
      `<form method="post" action="/console/logout">${csrfField(v)}<button type="submit">Sign out</button></form>`,
      '</header>',
      `<main><h1>${text(title)}</h1>${flash}${content}</main>`,
    ].join('\n'),
  );
}

function badge(c: string): string {
  return c ? classBadge(c) : '';
}

function diffHtml(unified: string): string {
  if (!unified)
    return '<p class="muted">No difference from the accepted definition (a new item: nothing was accepted before).</p>';
  const lines = unified.split('\n').map((l) => `<span class="${diffLineClass(l)}">${block(l)}</span>`);
  return `<pre class="diff">${lines.join('')}</pre>`;
}

export function loginPage(logins: Array<{ label: string }>, opts: { message?: string; problem?: string } = {}): string {
  const forms = logins.map((l, i) =>
    [
      `<form method="get" action="/console/login">`,
      `<input type="hidden" name="with" value="${i}">`,
      `<label for="hint-${i}">User name (optional)</label>`,
      `<input id="hint-${i}" name="login_hint" autocomplete="username" maxlength="200">`,
      `<button type="submit">Sign in with ${text(l.label)}</button>`,
      '</form>',
    ].join('\n'),
  );
  return doc(
    'Sign in',
    [
      '<main class="login">',
      '<h1>Gatehouse console</h1>',
      opts.message ? `<p class="flash ok">${text(opts.message)}</p>` : '',
      opts.problem ? `<p class="flash err">${text(opts.problem)}</p>` : '',
      ...forms,
      '<p class="muted">You sign in at your identity provider. The console needs an admin role, as the admin API does.</p>',
      '</main>',
    ].join('\n'),
  );
}

/** After the provider's redirect: a same-site hop, so the SameSite=Strict session cookie goes with the next request. */
export function continuePage(to: string): string {
  return doc(
    'Signed in',
    `<main class="login"><p>Signed in. <a href="${safeUrl(to)}">Continue to the console</a>.</p></main>`,
    `<meta http-equiv="refresh" content="0;url=${safeUrl(to)}">`,
  );
}

export function messagePage(message: string, back = '/console/'): string {
  return doc(
    'Gatehouse console',
    `<main class="login"><p class="flash err">${text(message)}</p><p><a href="${safeUrl(back)}">Back</a></p></main>`,
  );
}

export function inventoryPage(v: View, rows: InventoryRow[], changes: ReviewChange[], canReview: boolean): string {
  const classOptions = (cur: string) =>
    (cur ? '' : '<option value="" selected disabled>class…</option>') +
    ['READ', 'WRITE', 'DESTRUCTIVE'].map((c) => `<option${c === cur ? ' selected' : ''}>${c}</option>`).join('');
  const body = rows.map((r) => {
    const name = r.tool || r.server;
    const review =
      r.tool && canReview && r.review !== 'read-only item' && r.status !== 'removed'
        ? `<form method="post" action="/console/inventory/classify" class="inline">${csrfField(v)}<input type="hidden" name="tool" value="${escapeHtml(r.tool)}"><select name="class" aria-label="class of ${escapeHtml(r.tool)}">${classOptions(r.review === 'unreviewed' ? '' : r.class)}</select><button type="submit">Classify</button></form>`
        : '';
    return `<tr><td><code>${line(r.tool || `${r.server} (server)`)}</code></td><td>${badge(r.class)}</td><td>${text(r.review)}${r.proposed && r.review === 'unreviewed' ? ` <small>(proposed ${text(r.proposed)})</small>` : ''}</td><td class="st-${escapeHtml(r.status.replace(/ /g, '_'))}">${text(r.status)}${r.reason ? `<br><small>${line(r.reason)}</small>` : ''}</td><td>${line(r.owner || '—')}</td><td>${review}</td></tr>`.replace(
      '<td><code>',
      `<td id="row-${escapeHtml(name)}"><code>`,
    );
  });
  const review = changes.length
    ? changes
        .map((c) =>
          [
            `<section class="card review" id="review-${escapeHtml(c.name)}"><div>`,
            `<h2><code>${line(c.name)}</code> is quarantined</h2>`,
            `<p><strong>Why:</strong> ${line(c.reason)}</p>`,
            diffHtml(c.diff),
            canReview
              ? `<form method="post" action="/console/inventory/accept" class="inline">${csrfField(v)}<input type="hidden" name="tool" value="${escapeHtml(c.name)}"><button type="submit">Accept this definition</button></form>`
              : '<p class="muted">A platform admin accepts definitions: they apply to every tenant.</p>',
            '</div></section>',
          ].join('\n'),
        )
        .join('\n')
    : '<p>Nothing is waiting for review: every definition is the accepted one.</p>';
  return layout(
    v,
    'inventory',
    'Inventory',
    [
      '<h2>Waiting for review</h2>',
      review,
      '<h2>Servers and tools</h2>',
      '<table class="inventory"><thead><tr><th>Tool</th><th>Class</th><th>Review</th><th>Status</th><th>Owner</th><th></th></tr></thead>',
      `<tbody>${body.join('')}</tbody></table>`,
      canReview
        ? '<p class="muted">A class set in the configuration wins over one set here; accepting and classifying are recorded with your name, as with <code>gatehouse inventory</code>.</p>'
        : '',
    ].join('\n'),
  );
}

export function approvalsPage(v: View, pending: ApprovalRequest[]): string {
  const items = [...pending]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map(
      (r) =>
        `<tr><td><a href="${safeUrl(`/approvals/${encodeURIComponent(r.id)}`)}">${line(r.summary)}</a></td><td><code>${line(r.tool)}</code></td><td>${badge(r.toolClass)}</td><td>${line(r.requester.subject)}</td><td>${line(r.tenant)}</td><td>${text(iso(r.expiresAt))}</td></tr>`,
    );
  return layout(
    v,
    'approvals',
    'Approvals',
    items.length
      ? `<table><thead><tr><th>Action</th><th>Tool</th><th>Class</th><th>Requested by</th><th>Tenant</th><th>Expires</th></tr></thead><tbody>${items.join('')}</tbody></table><p class="muted">Each request opens on the approval page, where you read the exact call and its diff and decide.</p>`
      : '<p>Nothing is waiting for your approval.</p><p class="muted">You see the requests you may decide: your tenant, an approver role of the rule.</p>',
  );
}

const MODE_NAMES = ['disabled', 'read_only', 'shadow', 'enforce'];

export function modesPage(v: View, modes: ModeRecord[], canClear: (m: ModeRecord) => boolean): string {
  const rows = modes.map((m) => {
    const clear = canClear(m)
      ? `<form method="post" action="/console/modes/clear" class="inline">${csrfField(v)}<input type="hidden" name="scope" value="${escapeHtml(m.scope)}"><button type="submit">Clear</button></form>`
      : '';
    return `<tr><td><code>${line(m.scope)}</code></td><td class="st-${escapeHtml(m.mode)}">${text(m.mode)}</td><td>${line(m.reason)}</td><td>${line(m.setBy)}</td><td>${text(iso(m.setAt))}</td><td>${clear}</td></tr>`;
  });
  const kinds = v.platform ? ['tool', 'server', 'tenant', 'gateway'] : ['tenant'];
  const form = [
    `<form method="post" action="/console/modes/set" class="card">${csrfField(v)}`,
    `<label>Mode<select name="mode">${MODE_NAMES.filter((m) => v.platform || m !== 'enforce')
      .map((m) => `<option>${m}</option>`)
      .join('')}</select></label>`,
    `<label>For<select name="kind">${kinds.map((k) => `<option>${k}</option>`).join('')}</select></label>`,
    v.platform
      ? `<label>Name (tool, server or tenant)<input name="name" maxlength="200"></label>${UNSEEN}`
      : `<label>Tenant<input name="name" value="${escapeHtml(v.tenant)}" readonly></label>`,
    '<label>Reason<input name="reason" required maxlength="500" size="40"></label>',
    '<button type="submit">Set mode</button>',
    '</form>',
  ].join('\n');
  return layout(
    v,
    'modes',
    'Modes',
    [
      '<p>The incident switch: <strong>disabled</strong> refuses calls, <strong>read_only</strong> refuses WRITE and DESTRUCTIVE calls, <strong>shadow</strong> records proposed calls and runs none. Every gateway applies a change within a second; it is recorded like <code>gatehouse mode set</code>.</p>',
      form,
      '<h2>In force</h2>',
      rows.length
        ? `<table><thead><tr><th>Scope</th><th>Mode</th><th>Reason</th><th>Set by</th><th>Set at</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>`
        : '<p>No run-time mode is set: the policy files decide.</p>',
      v.platform
        ? ''
        : `<p class="muted">Your admin role covers tenant ${text(v.tenant)}: you can make your tenant stricter, and clear what your tenant's admins set. Tools, servers and the gateway serve every tenant: a platform admin switches those, and lifts what a platform admin set.</p>`,
    ].join('\n'),
  );
}

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
      `<tr><td>${text(position)}</td><td>${text(e.time)}</td><td>${text(e.kind)}${typeof e.detail?.action === 'string' ? ` <small>${line(e.detail.action)}</small>` : ''}</td><td>${e.tool ? `<code>${line(e.tool)}</code>` : ''}</td><td>${e.actor ? line(`${e.actor.subject}@${e.actor.tenant}`) : ''}</td><td class="o-${escapeHtml(e.outcome ?? '')}">${text(e.outcome ?? '')}${e.error ? ` <small>${line(e.error)}</small>` : ''}</td><td>${e.decision ? line(`${e.decision.effect} (${e.decision.rule})`) : ''}</td><td>${e.runId ? `<a href="/console/audit/runs/${escapeHtml(encodeURIComponent(e.runId))}">${line(e.runId.slice(0, 24))}</a>` : ''}</td><td><a href="/console/audit/chain/${escapeHtml(encodeURIComponent(e.stream))}/${escapeHtml(String(e.seq))}">proof</a></td></tr>`,
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
      `<tr><td>${text(e.time)}</td><td>${text(e.kind)}</td><td>${e.tool ? `<code>${line(e.tool)}</code>` : ''}</td><td>${text(e.class ?? '')}</td><td>${line(e.actor ?? '')}</td><td>${line(e.decision ?? '')}</td><td class="o-${escapeHtml(e.outcome ?? '')}">${text(e.outcome ?? '')}${e.error ? ` <small>${line(e.error)}</small>` : ''}</td><td>${e.latencyMs === undefined ? '' : `${text(e.latencyMs)} ms`}</td></tr>`,
  );
  return layout(
    v,
    'audit',
    `Run ${run}`,
    `<p><a href="/console/audit">Back to the search</a></p><table class="timeline"><thead><tr><th>Time</th><th>Kind</th><th>Tool</th><th>Class</th><th>Actor</th><th>Decision</th><th>Outcome</th><th>Latency</th></tr></thead><tbody>${trs.join('')}</tbody></table>${
      next === undefined
        ? ''
        : `<p class="pager"><a href="/console/audit/runs/${escapeHtml(encodeURIComponent(run))}?after=${next}">Later records</a></p>`
    }`,
  );
}

/** Whether an API key still works: revoked, expired (at `now`) or active. */
function keyState(r: ApiKeyRecord, now: number): 'revoked' | 'expired' | 'active' {
  if (r.revokedAt !== null) return 'revoked';
  if (r.expiresAt !== null && r.expiresAt <= now) return 'expired';
  return 'active';
}

export function keysPage(v: View, keys: ApiKeyRecord[], created?: { key: string; name: string }): string {
  const now = Date.now();
  const state = (r: ApiKeyRecord) => keyState(r, now);
  const trs = keys.map(
    (r) =>
      `<tr id="key-${escapeHtml(r.name)}"><td><code>${line(r.id)}</code></td><td>${line(r.name)}</td><td>${line(r.tenant)}</td><td>${line(r.subject ?? '(service key)')}</td><td>${line(r.roles.join(', '))}</td><td>${line(r.scopes.join(' '))}</td><td class="st-${state(r)}">${state(r)}</td><td>${text(iso(r.expiresAt))}</td><td>${text(iso(r.lastUsedAt))}</td><td>${state(r) === 'revoked' ? '' : `<form method="post" action="/console/keys/revoke" class="inline">${csrfField(v)}<input type="hidden" name="id" value="${escapeHtml(r.id)}"><button type="submit" class="danger">Revoke</button></form>`}</td></tr>`,
  );
  const shown = created
    ? `<section class="card created"><div><p><strong>Key ${line(created.name)} created.</strong> Copy it now: it is stored hashed and cannot be shown again.</p><code class="secret">${text(created.key)}</code><p class="muted">Use it as <code>Authorization: Bearer &lt;key&gt;</code>.</p></div></section>`
    : '';
  const form = [
    `<form method="post" action="/console/keys/create" class="card">${csrfField(v)}`,
    '<label>Name<input name="name" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}"></label>',
    v.platform
      ? '<label>Tenant<input name="tenant" required maxlength="64"></label>'
      : `<label>Tenant<input name="tenant" value="${escapeHtml(v.tenant)}" readonly></label>`,
    '<label>Person (optional)<input name="person" maxlength="256"></label>',
    '<label>Roles<input name="roles" maxlength="500" placeholder="agent"></label>',
    '<label>Scopes<input name="scopes" maxlength="500" placeholder="default: those every call needs"></label>',
    `<label>Expires<input name="expires" value="90d" maxlength="20" size="6"${v.platform ? '' : ` title="at most ${TENANT_KEY_MAX_DAYS}d"`}></label>`,
    '<button type="submit">Create key</button>',
    '</form>',
  ].join('\n');
  return layout(
    v,
    'keys',
    'API keys',
    [
      shown,
      form,
      trs.length
        ? `<table class="keys"><thead><tr><th>Id</th><th>Name</th><th>Tenant</th><th>Person</th><th>Roles</th><th>Scopes</th><th>State</th><th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>${trs.join('')}</tbody></table>`
        : '<p>No keys yet.</p>',
      '<p class="muted">A revoked key is refused from the next request on, on every gateway. A key without a person is a service key: it can call tools but never approve.</p>',
    ].join('\n'),
  );
}

/** The readiness report, or (`items` undefined, a tenant admin) why it is not shown. */
export function readinessPage(v: View, items: CheckItem[] | undefined, totals: Record<string, number>): string {
  if (!items)
    return layout(
      v,
      'readiness',
      'Readiness',
      `<p class="flash err" role="status">The readiness report covers the whole gateway, every tenant's activity included: a platform admin reads it. Your admin role covers tenant ${text(v.tenant)}.</p>`,
    );
  let section = '';
  const out: string[] = [];
  for (const i of items) {
    if (i.section !== section) {
      if (section) out.push('</tbody></table>');
      section = i.section;
      out.push(
        `<h2>${text(section.replace(/^\d+ /, (m) => `${m.trim()}. `))}</h2><table class="readiness"><thead><tr><th>Item</th><th>Status</th><th>Why</th><th>How to fix</th></tr></thead><tbody>`,
      );
    }
    out.push(
      `<tr id="item-${escapeHtml(i.id)}"><td>${text(i.id)} ${text(i.title)}</td><td class="st-${i.status}"><strong>${text(i.status.toUpperCase())}</strong></td><td>${line(i.why)}</td><td>${i.status === 'pass' ? '' : line(i.fix)}</td></tr>`,
    );
  }
  if (section) out.push('</tbody></table>');
  return layout(
    v,
    'readiness',
    'Readiness',
    [
      `<p class="summary"><strong>${totals.fail === 0 ? 'Ready' : 'Not ready'}</strong>: ${text(totals.pass ?? 0)} pass, ${text(totals.warn ?? 0)} warn, ${text(totals.fail ?? 0)} fail. The same report as <code>gatehouse check</code>.</p>`,
      ...out,
    ].join('\n'),
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
      `<code>${text(e.id)}</code>, ${text(e.kind)}${e.tool ? ` <code>${line(e.tool)}</code>` : ''} at ${text(e.time)}`,
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

/** A tenant or person the gateway has not seen yet is named on purpose (src/incident/known.ts). */
const UNSEEN = '<label><input type="checkbox" name="unseen"> a tenant or person not seen yet</label>';

export function incidentsPage(v: View, list: Array<Omit<IncidentRecord, 'actions'>>): string {
  const kinds = v.platform ? ['tool', 'server', 'tenant', 'principal'] : ['tenant'];
  const form = [
    `<form method="post" action="/console/incidents/open" class="card">${csrfField(v)}`,
    '<label>Title<input name="title" required maxlength="300" size="30"></label>',
    `<label>Contain<select name="kind">${kinds.map((k) => `<option>${k}</option>`).join('')}</select></label>`,
    v.platform
      ? `<label>Which (tool, server, tenant or person)<input name="value" required maxlength="300"></label>${UNSEEN}`
      : `<label>Tenant<input name="value" value="${escapeHtml(v.tenant)}" readonly></label>`,
    '<label>Reason<input name="reason" required maxlength="500" size="30"></label>',
    '<button type="submit" class="danger">Contain and open</button>',
    '</form>',
  ].join('\n');
  const rows = list.map(
    (r) =>
      `<tr><td><a href="/console/incidents/${escapeHtml(encodeURIComponent(r.id))}">${line(r.title)}</a><br><small><code>${text(r.id)}</code></small></td><td><code>${line(`${r.scope.kind}:${r.scope.value}`)}</code></td><td class="st-${r.status === 'open' ? 'fail' : 'pass'}">${text(r.status)}</td><td>${line(r.openedBy)}</td><td>${text(iso(r.openedAt))}</td><td>${text(iso(r.closedAt))}</td></tr>`,
  );
  return layout(
    v,
    'incidents',
    'Incidents',
    [
      '<p>Opening an incident contains at once: the tool, server or tenant is <strong>disabled</strong> (or every token and key of a person revoked) on every gateway, confirmed, as <code>gatehouse incident open</code> does. Every later step is written to the incident and the audit trail.</p>',
      form,
      rows.length
        ? `<table class="incidents"><thead><tr><th>Incident</th><th>Scope</th><th>Status</th><th>Opened by</th><th>Opened</th><th>Closed</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
        : '<p>No incidents.</p>',
      v.platform ? '' : `<p class="muted">Incidents of tenant ${text(v.tenant)} only.</p>`,
    ].join('\n'),
  );
}

export function incidentPage(v: View, r: IncidentRecord, canClose: boolean): string {
  const until = r.closedAt ?? Date.now();
  const audit = `/console/audit?${new URLSearchParams({ since: new Date(r.windowStart).toISOString(), until: new Date(until).toISOString(), ...(r.tenant && v.platform ? { tenant: r.tenant } : {}) })}`;
  const actions = r.actions.map(
    (x) =>
      `<tr><td>${text(iso(x.at))}</td><td>${text(x.action)}</td><td>${line(x.by)}</td><td><pre>${block(JSON.stringify(x.detail, null, 1))}</pre></td></tr>`,
  );
  const close =
    r.status === 'open' && canClose
      ? [
          `<form method="post" action="/console/incidents/${escapeHtml(encodeURIComponent(r.id))}/close" class="card">${csrfField(v)}`,
          '<label>Note<input name="note" maxlength="500" size="40"></label>',
          '<label>Containment<select name="lift"><option value="no">keep it</option><option value="yes">lift it (the policy files decide again)</option></select></label>',
          '<button type="submit">Close the incident</button>',
          '</form>',
        ].join('\n')
      : '';
  return layout(
    v,
    'incidents',
    r.title,
    [
      `<p><code>${text(r.id)}</code> · <code>${line(`${r.scope.kind}:${r.scope.value}`)}</code> · <strong class="st-${r.status === 'open' ? 'fail' : 'pass'}">${text(r.status)}</strong></p>`,
      `<p><strong>Why:</strong> ${line(r.reason)}</p>`,
      `<p>Opened by ${line(r.openedBy)} at ${text(iso(r.openedAt))}${r.closedAt ? `; closed by ${line(r.closedBy ?? '')} at ${text(iso(r.closedAt))}` : ''}. <a href="${escapeHtml(audit)}">Its audit records</a> (from ${text(iso(r.windowStart))}).</p>`,
      '<h2>What was done</h2>',
      `<table class="actions"><thead><tr><th>Time</th><th>Step</th><th>By</th><th>Detail</th></tr></thead><tbody>${actions.join('')}</tbody></table>`,
      close,
      '<p class="muted">Revoking credentials, exporting the evidence and notifying owners: <code>gatehouse incident revoke|export|notify</code>.</p>',
      '<p><a href="/console/incidents">All incidents</a></p>',
    ].join('\n'),
  );
}
