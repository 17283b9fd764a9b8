/**
 * Telling approvers a request is waiting: a Slack-compatible message and signed generic webhooks.
 *
 * Names (server, tool, target, requester, client) are marked as on the page (marks.ts `identifier`:
 * every character outside printable ASCII with its code point), with the page's notice when any is.
 *
 * Slack mrkdwn treats `<...>` as links and mentions (`<!channel>`, `<@U123>`, `<https://x|label>`),
 * so & < > are escaped in everything taken from the request. Bare `@channel`/`@here`/`@name` can
 * still be linked by some integrations, so `@` from the request becomes the visible look-alike `＠`
 * (never an invisible break: approvers must see what is there). Only our own page link is a link.
 *
 * Signatures: `v1=` hex HMAC-SHA256 over `${timestamp}.${body}` with unix-second timestamps, checked
 * in constant time, stale or future timestamps refused (replay window).
 */
import { hmacSha256, sameBytes } from '../util/hmac.ts';
import type { ApprovalRequest } from '../model/approval.ts';
import { truncate } from './summary.ts';
import { identifier, outsideAsciiNotice, visible } from '../util/marks.ts';
import { namesOutsideAscii } from './names.ts';

/** Slack text from untrusted values: hidden characters marked, link/mention syntax neutralised. */
export function mrkdwn(value: string, max = 2900): string {
  return truncate(visible(value), max)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@/g, '＠');
}

export interface SlackPayload {
  text: string;
  blocks: unknown[];
  unfurl_links: false;
  unfurl_media: false;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function slackPayload(req: ApprovalRequest, pageUrl: string): SlackPayload {
  if (!/^https?:\/\/[^\s<>|]+$/i.test(pageUrl))
    throw new Error('slackPayload: pageUrl must be an http(s) URL without spaces, <, > or |');
  const summary = mrkdwn(req.summary, 500);
  const cls = req.toolClass === 'DESTRUCTIVE' ? '*DESTRUCTIVE*' : mrkdwn(req.toolClass);
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: `*${label}*\n${mrkdwn(value, 500)}` });
  // The names of what is acted on and by whom, as the page shows them: outside ASCII with code points.
  const r = req.requester;
  const which = namesOutsideAscii(req);
  const notice = which.length ? `:warning: ${mrkdwn(outsideAsciiNotice(which))}` : '';
  return {
    text: `Approval needed (${req.toolClass}): ${summary}${notice && ` ${notice}`} — <${pageUrl}|review>`,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `*Approval needed* (${cls})\n${summary}${notice && `\n${notice}`}` },
      },
      {
        type: 'section',
        fields: [
          field('Tool', `${identifier(req.server)} / ${identifier(req.tool)}`),
          field('Target', req.resource === undefined ? '—' : identifier(req.resource)),
          field('Requested by', `${identifier(r.subject)} (${r.tenant}, ${identifier(r.client)})`),
          field('Expires', iso(req.expiresAt)),
        ],
      },
      {
        type: 'actions',
        elements: [
          { type: 'button', text: { type: 'plain_text', text: 'Review' }, url: pageUrl, action_id: 'gatehouse_review' },
        ],
      },
    ],
    unfurl_links: false,
    unfurl_media: false,
  };
}

const TIMESTAMP_HEADER = 'x-gatehouse-timestamp';
const SIGNATURE_HEADER = 'x-gatehouse-signature';

function mac(body: string | Uint8Array, secret: string, ts: string): string {
  return hmacSha256(secret, `${ts}.`, body).toString('hex');
}

/** Headers for a webhook POST of `body` (sign the exact bytes you send). `timestampSec`: unix seconds. */
export function sign(body: string | Uint8Array, secret: string, timestampSec: number): Record<string, string> {
  const ts = String(Math.floor(timestampSec));
  return { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: `v1=${mac(body, secret, ts)}` };
}

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== name) continue;
    return typeof v === 'string' ? v : undefined; // a repeated header is refused, not guessed at
  }
  return undefined;
}

/** True only for a fresh, correctly signed body. `nowSec`: unix seconds. */
export function verify(
  headers: Headers,
  body: string | Uint8Array,
  secret: string,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  const ts = header(headers, TIMESTAMP_HEADER);
  const sig = header(headers, SIGNATURE_HEADER);
  if (!ts || !sig || !/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(nowSec - Number(ts)) > toleranceSec) return false;
  const m = /^v1=([0-9a-f]{64})$/.exec(sig);
  if (!m) return false;
  return sameBytes(Buffer.from(mac(body, secret, ts), 'hex'), Buffer.from(m[1], 'hex'));
}
