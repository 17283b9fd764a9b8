/**
 * What every console page is built from: the document (the console's stylesheet, no script), the
 * signed-in frame (navigation, who is signed in, sign-out, the flash message), and the small pieces
 * the pages share (times, the CSRF field, a class badge). Values are escaped as pages.ts says.
 */
import { classBadge, escapeHtml, htmlDocument, line, text } from '../approvals/page.ts';
import { CONSOLE_CSS_PATH } from './css.ts';

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

export function iso(ms: number | null | undefined): string {
  return ms === null || ms === undefined || !Number.isFinite(ms)
    ? '—'
    : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function csrfField(v: View): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">`;
}

export function doc(title: string, body: string, head = ''): string {
  return htmlDocument({ title: `${title} · Gatehouse console`, css: CONSOLE_CSS_PATH, body, head });
}

export function layout(v: View, page: PageName, title: string, content: string): string {
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

export function badge(c: string): string {
  return c ? classBadge(c) : '';
}
