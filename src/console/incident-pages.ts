/**
 * The console's incident pages: run-time modes (the incident switch), the list of incidents with the
 * form that contains and opens one, and one incident with what was done and how to close it.
 */
import type { IncidentRecord, ModeRecord } from '../storage/types.ts';
import { block, escapeHtml, ident, line, text } from '../approvals/page.ts';
import { csrfField, iso, layout, type View } from './page-frame.ts';

/** A tenant or person the gateway has not seen yet is named on purpose (src/incident/known.ts). */
const UNSEEN = '<label><input type="checkbox" name="unseen"> a tenant or person not seen yet</label>';

const MODE_NAMES = ['disabled', 'read_only', 'shadow', 'enforce'];

export function modesPage(v: View, modes: ModeRecord[], canClear: (m: ModeRecord) => boolean): string {
  const rows = modes.map((m) => {
    const clear = canClear(m)
      ? `<form method="post" action="/console/modes/clear" class="inline">${csrfField(v)}<input type="hidden" name="scope" value="${escapeHtml(m.scope)}"><button type="submit">Clear</button></form>`
      : '';
    return `<tr><td><code>${ident(m.scope)}</code></td><td class="st-${escapeHtml(m.mode)}">${text(m.mode)}</td><td>${line(m.reason)}</td><td>${ident(m.setBy)}</td><td>${text(iso(m.setAt))}</td><td>${clear}</td></tr>`;
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
      `<tr><td><a href="/console/incidents/${escapeHtml(encodeURIComponent(r.id))}">${line(r.title)}</a><br><small><code>${text(r.id)}</code></small></td><td><code>${ident(`${r.scope.kind}:${r.scope.value}`)}</code></td><td class="st-${r.status === 'open' ? 'fail' : 'pass'}">${text(r.status)}</td><td>${ident(r.openedBy)}</td><td>${text(iso(r.openedAt))}</td><td>${text(iso(r.closedAt))}</td></tr>`,
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
      `<tr><td>${text(iso(x.at))}</td><td>${text(x.action)}</td><td>${ident(x.by)}</td><td><pre>${block(JSON.stringify(x.detail, null, 1))}</pre></td></tr>`,
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
      `<p><code>${text(r.id)}</code> · <code>${ident(`${r.scope.kind}:${r.scope.value}`)}</code> · <strong class="st-${r.status === 'open' ? 'fail' : 'pass'}">${text(r.status)}</strong></p>`,
      `<p><strong>Why:</strong> ${line(r.reason)}</p>`,
      `<p>Opened by ${ident(r.openedBy)} at ${text(iso(r.openedAt))}${r.closedAt ? `; closed by ${ident(r.closedBy ?? '')} at ${text(iso(r.closedAt))}` : ''}. <a href="${escapeHtml(audit)}">Its audit records</a> (from ${text(iso(r.windowStart))}).</p>`,
      '<h2>What was done</h2>',
      `<table class="actions"><thead><tr><th>Time</th><th>Step</th><th>By</th><th>Detail</th></tr></thead><tbody>${actions.join('')}</tbody></table>`,
      close,
      '<p class="muted">Revoking credentials, exporting the evidence and notifying owners: <code>gatehouse incident revoke|export|notify</code>.</p>',
      '<p><a href="/console/incidents">All incidents</a></p>',
    ].join('\n'),
  );
}
