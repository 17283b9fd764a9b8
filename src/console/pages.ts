/**
 * The console's pages: complete HTML documents with no JavaScript and no inline style, rendered on
 * the server. Every value goes through the approval page's escaping (`text`, `line`, `block`): hidden
 * characters made visible, HTML escaped; values only ever sit in element content or double-quoted
 * attributes. Every form that changes something carries the session's CSRF token.
 *
 * Here: the pages outside the signed-in frame (sign-in, its continuation, a message). The signed-in
 * pages are one module per group (review, incident, audit pages, keys, readiness) on one frame
 * (page-frame.ts), named here so that the listeners import the console's pages from one place.
 */
import { safeUrl, text } from '../approvals/page.ts';
import { doc } from './page-frame.ts';

export type { View } from './page-frame.ts';
export { approvalsPage, inventoryPage } from './review-pages.ts';
export { incidentPage, incidentsPage, modesPage } from './incident-pages.ts';
export { auditPage, chainPage, runPage, type AuditFilters, type ChainProof } from './audit-pages.ts';
export { keysPage } from './keys-page.ts';
export { readinessPage } from './readiness-page.ts';

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
