/**
 * The console's review pages: the inventory (what is quarantined, with its diff, and each tool's class
 * and status) and the approvals waiting for this viewer.
 */
import type { InventoryRow, ReviewChange } from '../inventory/report.ts';
import type { ApprovalRequest } from '../model/approval.ts';
import { block, diffLineClass, escapeHtml, ident, line, safeUrl, text } from '../approvals/page.ts';
import { outsideAsciiNotice } from '../util/marks.ts';
import { namesOutsideAscii } from '../approvals/names.ts';
import { badge, csrfField, iso, layout, type View } from './page-frame.ts';

function diffHtml(unified: string): string {
  if (!unified)
    return '<p class="muted">No difference from the accepted definition (a new item: nothing was accepted before).</p>';
  const lines = unified.split('\n').map((l) => `<span class="${diffLineClass(l)}">${block(l)}</span>`);
  return `<pre class="diff">${lines.join('')}</pre>`;
}

/**
 * The accept button; for a definition the poisoning scan flagged, its findings and a box to tick
 * first (the server refuses the accept without it, as the CLI does without --confirm-findings).
 */
function acceptForm(v: View, c: ReviewChange): string {
  const flagged = c.findings.length
    ? `<p class="warn"><strong>The poisoning scan flagged this definition:</strong></p><ul>${c.findings.map((f) => `<li>${line(f)}</li>`).join('')}</ul><p>Accepted, its text reaches clients as written.</p><label><input type="checkbox" name="confirmFindings" required> I have read the findings and the diff above</label> `
    : '';
  return `<form method="post" action="/console/inventory/accept" class="inline">${csrfField(v)}<input type="hidden" name="tool" value="${escapeHtml(c.name)}">${flagged}<button type="submit">Accept this definition</button></form>`;
}

export function inventoryPage(v: View, rows: InventoryRow[], changes: ReviewChange[], canReview: boolean): string {
  const classOptions = (cur: string) =>
    (cur ? '' : '<option value="" selected disabled>class…</option>') +
    ['READ', 'WRITE', 'DESTRUCTIVE'].map((c) => `<option${c === cur ? ' selected' : ''}>${c}</option>`).join('');
  const body = rows.map((r) => {
    const name = r.tool || r.server;
    const review =
      r.tool && canReview && r.review !== 'read-only item' && r.status !== 'removed'
        ? `<form method="post" action="/console/inventory/classify" class="inline">${csrfField(v)}<input type="hidden" name="tool" value="${escapeHtml(r.tool)}"><select name="class" aria-label="class of ${ident(r.tool)}">${classOptions(r.review === 'unreviewed' ? '' : r.class)}</select><button type="submit">Classify</button></form>`
        : '';
    return `<tr><td><code>${r.tool ? ident(r.tool) : `${ident(r.server)} (server)`}</code></td><td>${badge(r.class)}</td><td>${text(r.review)}${r.proposed && r.review === 'unreviewed' ? ` <small>(proposed ${text(r.proposed)})</small>` : ''}</td><td class="st-${escapeHtml(r.status.replace(/ /g, '_'))}">${text(r.status)}${r.reason ? `<br><small>${line(r.reason)}</small>` : ''}</td><td>${line(r.owner || '—')}</td><td>${review}</td></tr>`.replace(
      '<td><code>',
      `<td id="row-${escapeHtml(name)}"><code>`,
    );
  });
  const review = changes.length
    ? changes
        .map((c) =>
          [
            `<section class="card review" id="review-${escapeHtml(c.name)}"><div>`,
            `<h2><code>${ident(c.name)}</code> is quarantined</h2>`,
            `<p><strong>Why:</strong> ${line(c.reason)}</p>`,
            diffHtml(c.diff),
            canReview
              ? acceptForm(v, c)
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

/** Beside a request whose names hold characters outside ASCII: which, as its page and the CLI say it. */
function lookalike(r: ApprovalRequest): string {
  const which = namesOutsideAscii(r);
  return which.length ? `<br><small class="warn lookalike">${escapeHtml(outsideAsciiNotice(which))}</small>` : '';
}

/**
 * Without identity every caller and this console are one anonymous principal: each request is the
 * viewer's own, which its page will not let it decide (the requester never decides). Said here, with
 * where it is decided instead, rather than a queue whose every entry then refuses (walk W).
 */
const ANONYMOUS_QUEUE =
  '<p class="muted">Without identity (no <code>identity</code> in the configuration) every caller and this console are the same anonymous principal, so each request here is your own and its page will not let you decide it. Decide it from a terminal, where you act as the operator: <code>gatehouse approvals approve &lt;id&gt;</code> or <code>gatehouse approvals deny &lt;id&gt;</code> (the id is in the request\'s address).</p>';

/** The queue: `anonymous` when the gateway has no identity (see ANONYMOUS_QUEUE). */
export function approvalsPage(v: View, pending: ApprovalRequest[], anonymous = false): string {
  const items = [...pending]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map(
      (r) =>
        `<tr><td><a href="${safeUrl(`/approvals/${encodeURIComponent(r.id)}`)}">${line(r.summary)}</a>${lookalike(r)}</td><td><code>${ident(r.tool)}</code></td><td>${badge(r.toolClass)}</td><td>${ident(r.requester.subject)}</td><td>${line(r.tenant)}</td><td>${text(iso(r.expiresAt))}</td></tr>`,
    );
  return layout(
    v,
    'approvals',
    'Approvals',
    items.length
      ? `<table><thead><tr><th>Action</th><th>Tool</th><th>Class</th><th>Requested by</th><th>Tenant</th><th>Expires</th></tr></thead><tbody>${items.join('')}</tbody></table>${anonymous ? ANONYMOUS_QUEUE : '<p class="muted">Each request opens on the approval page, where you read the exact call and its diff and decide.</p>'}`
      : '<p>Nothing is waiting for your approval.</p><p class="muted">You see the requests you may decide: your tenant, an approver role of the rule, never your own.</p>',
  );
}
