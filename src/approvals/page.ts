/**
 * The approval pages: complete HTML5 documents that work with NO JavaScript (there is none at all)
 * and no inline style attributes, so the lead can serve them under a strict CSP. The stylesheet is
 * `APPROVAL_CSS`, served at `/approvals/static/page.css`.
 *
 * Every interpolated value goes through `text()`: `visible()` first (hidden characters become
 * `⟨U+202E⟩` markers), then HTML escaping of & < > " '. Values are only ever placed in element
 * content or in double-quoted attributes, where that escaping is sufficient.
 */
import { approverSubjectLabel, type ApprovalRequest } from '../model/approval.ts';
import type { Receipt } from './receipt.ts';
import { identifier, oneLine, outsideAsciiNotice, visible } from '../util/marks.ts';
import { argsJson, NAME_FIELDS, namesOutsideAscii } from './names.ts';

export { APPROVAL_CSS } from './page-css.ts';

export const APPROVAL_CSS_PATH = '/approvals/static/page.css';

/** Headers the lead should send with every approval page (frame-ancestors cannot go in a meta tag). */
export const APPROVAL_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin', // not no-referrer: browsers then send `Origin: null` with the form, and the origin check needs it
  'cache-control': 'no-store',
};

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}

/** The only way a value enters the HTML (inline); `line()` for values that must stay on one line, `block()` for long ones. */
export function text(value: unknown): string {
  return escapeHtml(visible(typeof value === 'string' ? value : String(value)));
}

/** A value that must read as one line (a title, a name): line breaks shown as markers, never as breaks. */
export function line(value: unknown): string {
  return escapeHtml(oneLine(typeof value === 'string' ? value : String(value)));
}

/** A name of what is acted on (target, path, tool, server, person): outside ASCII shown with code points (marks.ts). */
export function ident(value: string): string {
  return escapeHtml(identifier(value));
}

/** The notice beside names that hold characters outside ASCII (names.ts): which ones, and that look-alikes are possible. */
function lookalikeNotice(req: ApprovalRequest): string {
  const which = namesOutsideAscii(req);
  return which.length ? `<p class="warn lookalike">${escapeHtml(outsideAsciiNotice(which))}</p>` : '';
}

/** Lines longer than this are folded, with a visible marker where each fold is. */
const FOLD_AT = 120;
/** Runs of this many spaces or more are shown as a counted marker (padding that pushes text out of sight). */
const SPACE_RUN = /( {8,})/;

function foldLine(l: string): string {
  const out: string[] = [];
  const cps = Array.from(l);
  for (let i = 0; i < cps.length; i += FOLD_AT) out.push(escapeHtml(cps.slice(i, i + FOLD_AT).join('')));
  return out.join('<span class="fold" title="folded: the value continues on the next line">↩</span>\n');
}

/**
 * A long value in a <pre>: hidden characters made visible, long space runs counted, long lines folded
 * with a visible marker, so nothing can sit off-screen or out of sight; everything is still there.
 */
export function block(value: string): string {
  return visible(value)
    .split('\n')
    .map((l) =>
      l
        .split(SPACE_RUN)
        .map((part, i) => (i % 2 ? `<span class="ws">⟨${part.length} spaces⟩</span>` : foldLine(part)))
        .join(''),
    )
    .join('\n');
}

/** Only same-origin paths or http(s) URLs may be used as links and form actions (no `javascript:`). */
export function safeUrl(url: string): string {
  if ((url.startsWith('/') && !url.startsWith('//') && !url.startsWith('/\\')) || /^https?:\/\//i.test(url))
    return escapeHtml(url);
  throw new Error(`approval page: refusing unsafe URL ${JSON.stringify(url)}`);
}

function iso(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? '—' : new Date(ms).toISOString();
}

/**
 * The HTML document every server-rendered page of the gateway shares (this approval page and the
 * console): no script, same-origin referrer, not indexed, one stylesheet of our own.
 */
export function htmlDocument(o: { title: string; css: string; body: string; head?: string }): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="same-origin">',
    '<meta name="robots" content="noindex, nofollow">',
    `<title>${text(o.title)}</title>`,
    `<link rel="stylesheet" href="${o.css}">`,
    ...(o.head ? [o.head] : []),
    '</head>',
    `<body>${o.body}</body>`,
    '</html>',
  ].join('\n');
}

function doc(title: string, body: string): string {
  return htmlDocument({ title, css: APPROVAL_CSS_PATH, body: `<main>${body}</main>` });
}

/** The colour class of each tool class; any other is shown as a read. */
const CLASS_COLOUR = new Map([
  ['DESTRUCTIVE', 'destructive'],
  ['WRITE', 'write'],
]);

/** The class in words, with a class for colour: colour is never the only signal. */
export function classBadge(c: string): string {
  return `<span class="cls cls-${CLASS_COLOUR.get(c) ?? 'read'}">${text(c)}</span>`;
}

const MULTILINE_FIELDS = new Set(['body', 'description', 'content', 'text', 'message', 'comment']);

function fieldCell(k: string, v: string): string {
  if (MULTILINE_FIELDS.has(k)) return block(v);
  return block(NAME_FIELDS.has(k) ? identifier(v) : oneLine(v));
}

/** The class of one line of a unified diff: file header, hunk header, added, removed or context. */
export function diffLineClass(line: string): string {
  if (line.startsWith('+++') || line.startsWith('---')) return 'meta';
  if (line.startsWith('@@')) return 'hunk';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  return 'ctx';
}

function receiptHtml(r: Receipt, args: unknown): string {
  if (r.kind === 'diff') {
    const lines = r.unified.split('\n').map((line) => {
      return `<span class="${diffLineClass(line)}">${block(line)}</span>`;
    });
    return [
      `<h2>${r.newFile ? 'New file' : 'Changes to'} <code>${ident(r.path)}</code></h2>`,
      `<pre class="diff">${lines.join('\n')}</pre>`,
      r.otherArgs ? `<h3>Other arguments</h3><pre class="json">${block(argsJson(JSON.parse(r.otherArgs)))}</pre>` : '',
    ].join('\n');
  }
  if (r.kind === 'fields') {
    // Free text (a body, a description) keeps its lines; every other field must read as one line.
    const rows = r.rows.map(
      ([k, v]) => `<tr><th scope="row">${line(k)}</th><td><pre class="cell">${fieldCell(k, v)}</pre></td></tr>`,
    );
    const note = r.note ? `<p class="warn">${text(r.note)}</p>` : '';
    return `<h2>Details</h2>${note}<table class="fields"><tbody>${rows.join('')}</tbody></table>`;
  }
  return `<h2>Arguments</h2><pre class="json">${block(argsJson(args))}</pre>`;
}

function decisionsHtml(req: ApprovalRequest): string {
  if (!req.decisions.length) return '<p>No decisions yet.</p>';
  const rows = req.decisions.map(
    (d) =>
      `<li><strong class="d-${d.decision === 'deny' ? 'deny' : 'approve'}">${d.decision === 'deny' ? 'Denied' : 'Approved'}</strong> by ${line(d.by.subject)} at ${text(iso(d.at))}${d.reason ? `: <q>${text(d.reason)}</q>` : ''}</li>`,
  );
  return `<ul class="decisions">${rows.join('')}</ul>`;
}

function form(actionUrl: string, csrfToken: string, decision: 'approve' | 'deny'): string {
  const label = decision === 'approve' ? 'Approve' : 'Deny';
  return [
    `<form method="post" action="${safeUrl(actionUrl)}" class="decide decide-${decision}">`,
    `<input type="hidden" name="csrf" value="${escapeHtml(csrfToken)}">`,
    `<input type="hidden" name="decision" value="${decision}">`,
    `<label for="reason-${decision}">Reason (optional)</label>`,
    `<textarea id="reason-${decision}" name="reason" rows="2" maxlength="1000"></textarea>`,
    `<button type="submit" class="btn btn-${decision}">${label}</button>`,
    '</form>',
  ].join('\n');
}

export interface PageOptions {
  csrfToken: string;
  actionUrl: string;
  viewer: { subject: string };
  canDecide: boolean;
  /** Why the viewer cannot decide (or any note for them). */
  why?: string;
  /** Why there is no diff (the requester may not read the file, or it could not be read). */
  diffNote?: string;
}

export function approvalPage(req: ApprovalRequest, rcpt: Receipt, opts: PageOptions): string {
  const rule = req.approversRule;
  const who =
    [
      rule.roles?.length ? `role ${rule.roles.join(' or ')}` : '',
      rule.subjects?.length ? rule.subjects.map(approverSubjectLabel).join(', ') : '',
    ]
      .filter(Boolean)
      .join('; ') || 'nobody configured';
  const need = `${rule.count} distinct approver${rule.count === 2 ? 's' : ''} (${who})`;
  const body = [
    `<p class="status status-${text(req.status)}">Status: <strong>${text(req.status.toUpperCase())}</strong></p>`,
    `<h1 class="summary">${line(req.summary)}</h1>`,
    lookalikeNotice(req),
    '<dl class="facts">',
    `<dt>Server</dt><dd><code>${ident(req.server)}</code></dd>`,
    `<dt>Tool</dt><dd><code>${ident(req.tool)}</code></dd>`,
    `<dt>Target</dt><dd><code>${req.resource === undefined ? '—' : ident(req.resource)}</code></dd>`,
    `<dt>Class</dt><dd>${classBadge(req.toolClass)}</dd>`,
    `<dt>Requested by</dt><dd>${ident(req.requester.subject)} (tenant ${line(req.requester.tenant)}, client ${line(req.requester.client)})</dd>`,
    `<dt>Created</dt><dd><time>${text(iso(req.createdAt))}</time></dd>`,
    `<dt>Expires</dt><dd><time>${text(iso(req.expiresAt))}</time></dd>`,
    `<dt>Needs</dt><dd>${text(need)}</dd>`,
    `<dt>Policy</dt><dd>rule <code>${text(req.rule)}</code>, revision <code>${text(req.policyRevision)}</code></dd>`,
    `<dt>Request</dt><dd><code>${text(req.id)}</code>, arguments <code>${text(req.argsHash)}</code></dd>`,
    '</dl>',
    opts.diffNote ? `<p class="warn diff-note">${text(opts.diffNote)}</p>` : '',
    `<section class="receipt">${receiptHtml(rcpt, req.args)}</section>`,
    `<section><h2>Decisions</h2>${decisionsHtml(req)}</section>`,
    `<p class="viewer">Signed in as ${text(opts.viewer.subject)}.</p>`,
    opts.why ? `<p class="why">${text(opts.why)}</p>` : '',
    opts.canDecide && req.status === 'pending'
      ? `<section class="actions">${form(opts.actionUrl, opts.csrfToken, 'approve')}\n${form(opts.actionUrl, opts.csrfToken, 'deny')}</section>`
      : '',
  ];
  return doc(`Approval: ${oneLine(req.summary)}`, body.filter(Boolean).join('\n'));
}

/** Pending approvals, newest first, each linking to its page. */
export function listPage(
  requests: readonly ApprovalRequest[],
  opts: { linkFor?: (id: string) => string } = {},
): string {
  const link = opts.linkFor ?? ((id: string) => `/approvals/${encodeURIComponent(id)}`);
  const items = [...requests]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map(
      (r) =>
        `<li><a href="${safeUrl(link(r.id))}">${line(r.summary)}</a> ${classBadge(r.toolClass)}<br><small><code>${ident(r.tool)}</code> · ${ident(r.requester.subject)} · expires ${text(iso(r.expiresAt))}</small></li>`,
    );
  const body = `<h1>Pending approvals</h1>${items.length ? `<ul class="list">${items.join('')}</ul>` : '<p>Nothing is waiting for approval.</p>'}`;
  return doc('Pending approvals', body);
}

/** After a decision (or a refusal): a message and a way back. */
export function resultPage(message: string, opts: { backUrl?: string } = {}): string {
  return doc(
    'Approval',
    `<p class="result">${text(message)}</p><p><a href="${safeUrl(opts.backUrl ?? '/approvals')}">Back to pending approvals</a></p>`,
  );
}
