/**
 * `incident notify`: tell the owners of the servers an incident concerns what happened, what was
 * contained and revoked, and what they must do. Owners come from the config: `servers[].owner` (an
 * email address there is written to) and `servers[].contact` (`email` addresses, and a `webhook`
 * with its own secret). Webhooks get a Slack-compatible message signed like the approval webhook
 * (x-gatehouse-timestamp, x-gatehouse-signature: v1=HMAC-SHA256 over `${timestamp}.${body}`); email
 * goes through nodemailer to the SMTP server given (`--smtp`, $GATEHOUSE_SMTP_URL). Each delivery is
 * tried up to `attempts` times with exponential backoff, and each outcome is recorded: in the audit
 * trail and in the incident's action log.
 */
import { hostname } from 'node:os';
import { GatehouseError } from '../protocol/errors.ts';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config/schema.ts';
import { mrkdwn, sign } from '../approvals/webhook.ts';
import type { IncidentRecord, Store } from '../storage/types.ts';
import { addAction, getIncident, scopeServer, type Actor } from './incident.ts';
import { touched, windowRecords } from './window.ts';

const EMAIL = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;

interface RecipientBase {
  server: string;
  owner: string | null;
  /** An address, or the webhook URL (its secret stays in the config). */
  to: string;
}

export type Recipient =
  | (RecipientBase & { channel: 'email' })
  | (RecipientBase & { channel: 'webhook' /** The key the webhook's body is signed with. */; secret: string });

export interface Delivery {
  server: string;
  channel: Recipient['channel'];
  /** An address, or a webhook's origin only (`webhookShown`). */
  to: string;
  ok: boolean;
  attempts: number;
  /** The last failure (no secret in it), when not ok. */
  error?: string;
  at: string;
}

/**
 * A webhook as deliveries show it: its origin, the rest withheld. A Slack-style webhook's URL is its
 * credential (its path), and deliveries go to the incident's action log, its audit record and the
 * answer of whoever notified, a tenant admin included (walk M: the whole URL, token and all).
 */
function webhookShown(url: string): string {
  return URL.canParse(url) ? `${new URL(url).origin}/…` : 'a webhook';
}

export interface NotifyOptions {
  smtpUrl?: string;
  from?: string;
  attempts?: number;
  /** The first retry waits this long, each next one twice as long. */
  backoffMs?: number;
  timeoutMs?: number;
  tenant?: string;
  /** Where each delivery stands while it is tried (the CLI's progress line): a retry can take seconds. */
  onProgress?: (text: string) => void;
}

export async function recipients(
  store: Store,
  config: Config,
  incident: IncidentRecord,
): Promise<{ servers: string[]; recipients: Recipient[] }> {
  const own = scopeServer(config, incident.scope);
  const t = touched(
    incident.scope,
    (await windowRecords(store.audit, incident)).records.map((r) => r.event),
  );
  const servers = [...new Set([...(own ? [own] : []), ...t.servers])].sort();
  const out: Recipient[] = [];
  for (const name of servers) {
    const s = config.servers.find((x) => x.name === name);
    if (!s) continue;
    const owner = s.owner ?? null;
    const emails = new Set([...(owner && EMAIL.test(owner) ? [owner] : []), ...(s.contact?.email ?? [])]);
    for (const to of emails) out.push({ server: name, owner, channel: 'email', to });
    if (s.contact?.webhook)
      out.push({
        server: name,
        owner,
        channel: 'webhook',
        to: s.contact.webhook.url,
        secret: s.contact.webhook.secret,
      });
  }
  return { servers, recipients: out };
}

/** The notice in plain text: what happened, what was contained, what the owner must do. */
export function noticeText(incident: IncidentRecord, server: string): { subject: string; text: string } {
  const scope = `${incident.scope.kind} ${incident.scope.value}`;
  const lines = [
    `Incident ${incident.id}: ${incident.title}`,
    '',
    'What happened',
    `  ${incident.reason}`,
    `  Opened by ${incident.openedBy} at ${new Date(incident.openedAt).toISOString()}; status ${incident.status}.`,
    `  It concerns ${scope}, and your server \`${server}\`.`,
    '',
    'What was done',
  ];
  for (const a of incident.actions) {
    const d = a.detail;
    if (a.action === 'contained')
      lines.push(
        `  ${new Date(a.at).toISOString()} contained: ${String(d.target)} (${d.confirmed ? `confirmed by ${String(d.gateways)} gateway(s) within ${String(d.timeToEffectMs)} ms` : 'NOT confirmed by every gateway'})`,
      );
    else if (a.action === 'revoked') {
      const creds = (d.credentials as Array<{ ref: string }> | undefined) ?? [];
      lines.push(
        `  ${new Date(a.at).toISOString()} revoked: ${creds.length} credential(s)${creds.length ? ` (${creds.map((c) => c.ref).join(', ')})` : ''}, ${(d.apiKeys as string[] | undefined)?.length ?? 0} api key(s), ${String(d.sessionsEnded ?? 0)} session(s)`,
      );
    } else if (a.action === 'exported')
      lines.push(`  ${new Date(a.at).toISOString()} evidence exported (${String(d.records)} audit records)`);
  }
  lines.push(
    '',
    'What you must do',
    `  1. Do not re-enable ${scope} until the cause is understood; the operator lifts the containment when closing the incident.`,
    '  2. Rotate every revoked credential in its secrets manager; the operator then restores it (`gatehouse credentials restore <ref>`).',
    '  3. Review the evidence bundle the operator shares with you (checked with `gatehouse incident verify`), and reply with what the server did.',
  );
  // A title is one line: control characters (a newline would start a header of its own) become spaces.
  return {
    subject: `[gatehouse] incident ${incident.id}: ${incident.title}`
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this replaces in a one-line subject
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
      .slice(0, 200),
    text: `${lines.join('\n')}\n`,
  };
}

function slack(incident: IncidentRecord, server: string, text: string): string {
  return JSON.stringify({
    text: mrkdwn(`Incident ${incident.id}: ${incident.title} (server ${server})`, 300),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `Incident ${incident.id}`.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: mrkdwn(text) } },
    ],
    incident: {
      id: incident.id,
      title: incident.title,
      scope: incident.scope,
      server,
      status: incident.status,
      openedAt: new Date(incident.openedAt).toISOString(),
    },
    unfurl_links: false,
    unfurl_media: false,
  });
}

async function withRetries(
  attempts: number,
  backoffMs: number,
  once: () => Promise<void>,
  said?: (text: string) => void,
): Promise<{ ok: boolean; attempts: number; error?: string }> {
  let error = '';
  for (let i = 1; i <= attempts; i++) {
    said?.(`attempt ${i} of ${attempts}`);
    try {
      await once();
      return { ok: true, attempts: i };
    } catch (err) {
      error = (err as Error).message.slice(0, 300);
      const wait = backoffMs * 2 ** (i - 1);
      if (i < attempts) {
        said?.(`attempt ${i} of ${attempts} failed (${error}); next in ${(wait / 1000).toFixed(1)} s`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
  return { ok: false, attempts, error };
}

/** How often a tenant admin may tell the owners of an incident again. */
const TENANT_NOTIFY_EVERY_MS = 10 * 60_000;

/** `smtp://[user:pass@]host[:port]` (STARTTLS when offered) or `smtps://...` (TLS from the start). */
export function smtpOptions(url: string, timeoutMs: number): SMTPTransport.Options {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('the smtp url is not a url: use smtp://host:port or smtps://host:port');
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:')
    throw new Error('the smtp url must start with smtp:// or smtps://');
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || (secure ? 465 : 587)),
    secure,
    ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  };
}

type Outcome = { ok: boolean; attempts: number; error?: string };

/**
 * A failure as it is shown, recorded in the audit trail and in the incident's log: the webhook's URL
 * (its path is often the secret, as Slack's is) and the smtp password never in it.
 */
function secretFree(error: string, secrets: readonly string[]): string {
  return secrets.filter((x) => x.length >= 4).reduce((e, x) => e.split(x).join('…'), error);
}

/** What of the smtp url and a webhook url is secret: the password, the webhook's path and query. */
function secretsOf(smtpUrl: string | undefined, r: Recipient): string[] {
  const parts = (url: string | undefined) => {
    if (!url || !URL.canParse(url)) return url ? [url] : [];
    const u = new URL(url);
    return [url, u.password, decodeURIComponent(u.password), `${u.pathname}${u.search}`.replace(/^\/$/, '')];
  };
  return [...parts(smtpUrl).slice(1, 3), ...(r.channel === 'webhook' ? parts(r.to) : [])];
}
type Mailer = { sendMail(m: object): Promise<unknown>; close(): void };
interface Sending {
  mailer?: Mailer;
  from: string;
  timeoutMs: number;
  attempts: number;
  backoffMs: number;
  said?: (text: string) => void;
  smtpUrl?: string;
}

/** One recipient told of `incident`, with retries; where it stands goes to `said`, naming it. */
async function deliver(r: Recipient, incident: IncidentRecord, o: Sending): Promise<Outcome> {
  const shownTo = r.channel === 'email' ? r.to : webhookShown(r.to);
  const secrets = secretsOf(o.smtpUrl, r);
  const said =
    o.said && ((t: string) => o.said?.(`${r.channel} to ${shownTo} (${r.server}): ${secretFree(t, secrets)}`));
  const outcome = await tryDelivery(r, incident, o, said);
  return outcome.error === undefined ? outcome : { ...outcome, error: secretFree(outcome.error, secrets) };
}

/** The attempts to tell `r`, as they fail (their errors as they come). */
async function tryDelivery(
  r: Recipient,
  incident: IncidentRecord,
  o: Sending,
  said: ((t: string) => void) | undefined,
): Promise<Outcome> {
  const { subject, text } = noticeText(incident, r.server);
  if (r.channel === 'email') {
    const { mailer } = o;
    if (!mailer) return { ok: false, attempts: 0, error: 'no smtp server: give --smtp or set GATEHOUSE_SMTP_URL' };
    const mail = { from: o.from, to: r.to, subject, text, headers: { 'x-gatehouse-incident': incident.id } };
    return withRetries(o.attempts, o.backoffMs, async () => void (await mailer.sendMail(mail)), said);
  }
  const body = slack(incident, r.server, text);
  return withRetries(
    o.attempts,
    o.backoffMs,
    async () => {
      const res = await fetch(r.to, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...sign(body, r.secret, Date.now() / 1000) },
        body,
        signal: AbortSignal.timeout(o.timeoutMs),
        redirect: 'error',
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`the webhook answered ${res.status}`);
    },
    said,
  );
}

export async function notifyIncident(
  store: Store,
  config: Config,
  actor: Actor,
  id: string,
  opts: NotifyOptions = {},
): Promise<{ incident: string; servers: string[]; deliveries: Delivery[]; warning?: string }> {
  const incident = await getIncident(store, id, opts.tenant);
  // A tenant admin's notices go to the owners of servers other tenants share: one round of them per
  // incident in TENANT_NOTIFY_EVERY_MS, so the owners are told, not flooded. Platform admins are not held.
  const last = incident.actions.findLast((a) => a.action === 'notified')?.at;
  const wait = last === undefined ? 0 : last + TENANT_NOTIFY_EVERY_MS - Date.now();
  if (opts.tenant !== undefined && wait > 0)
    throw new GatehouseError(
      'E_RATE_LIMITED',
      `the owners were told of incident \`${id}\` ${Math.round((Date.now() - (last ?? 0)) / 1000)} s ago: a tenant admin may tell them again in ${Math.ceil(wait / 1000)} s`,
    );
  const { servers, recipients: list } = await recipients(store, config, incident);
  const smtpUrl = opts.smtpUrl ?? process.env.GATEHOUSE_SMTP_URL;
  const from = opts.from ?? process.env.GATEHOUSE_SMTP_FROM ?? `gatehouse@${hostname()}`;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // Loaded only to send mail: a gateway that never notifies never loads nodemailer.
  const nodemailer = smtpUrl ? (await import('nodemailer')).default : undefined;
  const mailer = smtpUrl && nodemailer ? nodemailer.createTransport(smtpOptions(smtpUrl, timeoutMs)) : undefined;
  const attempts = opts.attempts ?? 4;
  const backoffMs = opts.backoffMs ?? 500;
  const deliveries: Delivery[] = [];
  try {
    for (const r of list) {
      const outcome = await deliver(r, incident, {
        mailer,
        from,
        timeoutMs,
        attempts,
        backoffMs,
        said: opts.onProgress,
        smtpUrl,
      });
      const d: Delivery = {
        server: r.server,
        channel: r.channel,
        to: r.channel === 'webhook' ? webhookShown(r.to) : r.to,
        ...outcome,
        at: new Date().toISOString(),
      };
      deliveries.push(d);
      await actor.record('incident.notice', {
        incident: id,
        server: d.server,
        channel: d.channel,
        to: d.to,
        ok: d.ok,
        attempts: d.attempts,
        ...(d.error ? { error: d.error } : {}),
      });
    }
  } finally {
    mailer?.close();
  }
  await addAction(store, id, actor, 'notified', {
    servers,
    deliveries: deliveries.map((d) => ({
      server: d.server,
      channel: d.channel,
      to: d.to,
      ok: d.ok,
      attempts: d.attempts,
      // Why it failed, as the audit record says it: the log alone then tells what to fix.
      ...(d.error ? { error: d.error } : {}),
    })),
  });
  // Nobody to tell is not a failure of the step (the incident goes on), but it is not done either.
  const warning = list.length
    ? undefined
    : `no owner to notify: set servers[].owner (an email) or servers[].contact for ${servers.join(', ') || 'the affected servers'}`;
  return { incident: id, servers, deliveries, ...(warning ? { warning } : {}) };
}
