/** An approval decided on its page (/approvals/<id>) as a person does without JavaScript: the HTML form. */

export interface PageDecision {
  /** The GET of the page (its body already read into `pageHtml`). */
  page: Response;
  pageHtml: string;
  /** The POST of the form (its body already read into `html`). */
  answer: Response;
  html: string;
}

/**
 * GET the page of approval `id` on `base` with the bearer `token` (as an SSO proxy would add it), then
 * POST its form with the page's CSRF token (`none` when the page shows no form) and `decision`;
 * `reason` is a field of the form only when given.
 */
export async function submitDecision(
  base: string,
  token: string,
  id: string,
  decision: 'approve' | 'deny',
  reason?: string,
): Promise<PageDecision> {
  const auth = { authorization: `Bearer ${token}` };
  const page = await fetch(`${base}/approvals/${id}`, { headers: auth });
  const pageHtml = await page.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(pageHtml)?.[1] ?? 'none';
  const answer = await fetch(`${base}/approvals/${id}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, decision, ...(reason === undefined ? {} : { reason }) }).toString(),
  });
  return { page, pageHtml, answer, html: await answer.text() };
}
