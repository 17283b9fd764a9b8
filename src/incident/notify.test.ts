/**
 * Notices: who gets them (the affected servers' owners and contacts only), the text, the SMTP url,
 * and retries with backoff against a real SMTP server on loopback that refuses the first attempt and
 * a webhook that keeps failing; every delivery recorded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { parseConfig } from '../config/load.ts';
import { openStore } from '../storage/index.ts';
import type { Store } from '../storage/types.ts';
import { openIncident, type Actor } from './incident.ts';
import { noticeText, notifyIncident, recipients, smtpOptions } from './notify.ts';

let smtp: SMTPServer;
let hook: Server;
let refuseMail = 1;
const mails: string[] = [];
let hookCalls = 0;

before(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      stream.resume();
      stream.on('end', () => {
        if (refuseMail-- > 0) return done(Object.assign(new Error('try again later'), { responseCode: 451 }));
        mails.push(session.envelope.rcptTo.map((r) => r.address).join(','));
        done();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  hook = createServer((req, res) => {
    hookCalls++;
    req.resume();
    req.on('end', () => res.writeHead(500).end());
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
});
after(async () => {
  await new Promise<void>((r) => smtp.close(() => r()));
  await new Promise<void>((r) => hook.close(() => r()));
});

async function setup(): Promise<{ store: Store; config: ReturnType<typeof parseConfig> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-notify-'));
  const file = join(dir, 'gatehouse.yaml');
  // A Slack-style webhook: its path is its credential.
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/services/T0/B0/hook-secret-4711`;
  const yaml =
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\nservers:\n` +
    `  - { name: files, transport: stdio, command: /bin/true, owner: files@example.test, contact: { webhook: { url: ${JSON.stringify(hookUrl)}, secret: notify-secret-0123456789 } } }\n` +
    '  - { name: other, transport: stdio, command: /bin/true, owner: other@example.test }\n' +
    '  - { name: team, transport: stdio, command: /bin/true, owner: the platform team }\n';
  writeFileSync(file, yaml);
  const config = parseConfig(yaml, file);
  return { store: await openStore(config.storage), config };
}

test('smtp urls: smtp:// and smtps://, credentials decoded, anything else refused', () => {
  assert.deepEqual(smtpOptions('smtp://127.0.0.1:2525', 1000), {
    host: '127.0.0.1',
    port: 2525,
    secure: false,
    connectionTimeout: 1000,
    greetingTimeout: 1000,
    socketTimeout: 1000,
  });
  const s = smtpOptions('smtps://u%40x:p%3Aw@mail.example', 5);
  assert.equal(s.port, 465);
  assert.equal(s.secure, true);
  assert.deepEqual(s.auth, { user: 'u@x', pass: 'p:w' });
  assert.throws(() => smtpOptions('http://x', 5), /must start with smtp/);
  assert.throws(() => smtpOptions('nope', 5), /not a url/);
});

test("only the affected servers' owners; an owner that is no address gets no email", async () => {
  const { store, config } = await setup();
  try {
    const actor: Actor = { name: 't', record: async () => {} };
    const { incident } = await openIncident(store, actor, {
      title: 't',
      scope: { kind: 'tool', value: 'files__write' },
      reason: 'r',
      timeoutMs: 0,
    });
    const r = await recipients(store, config, incident);
    assert.deepEqual(r.servers, ['files']);
    assert.deepEqual(
      r.recipients.map((x) => [x.channel, x.to.replace(/:\d+/, ':P')]),
      [
        ['email', 'files@example.test'],
        ['webhook', 'http://127.0.0.1:P/services/T0/B0/hook-secret-4711'],
      ],
    );
    const team = await openIncident(store, actor, {
      title: 't',
      scope: { kind: 'server', value: 'team' },
      reason: 'r',
      timeoutMs: 0,
    });
    assert.deepEqual((await recipients(store, config, team.incident)).recipients, []);
    const { subject, text } = noticeText(incident, 'files');
    assert.match(subject, new RegExp(`^\\[gatehouse\\] incident ${incident.id}: t$`));
    assert.equal(
      noticeText({ ...incident, title: 'a\r\nBcc: x@evil.test' }, 'files').subject,
      `[gatehouse] incident ${incident.id}: a  Bcc: x@evil.test`,
    );
    assert.match(
      text,
      /What happened[\s\S]*What was done[\s\S]*contained: tool:files__write=disabled[\s\S]*What you must do/,
    );
  } finally {
    await store.close();
  }
});

test('deliveries are retried with backoff, and each is recorded, failed or not', async () => {
  const { store, config } = await setup();
  try {
    const recorded: Array<Record<string, unknown>> = [];
    const actor: Actor = { name: 't', record: async (action, detail) => void recorded.push({ action, ...detail }) };
    const { incident } = await openIncident(store, actor, {
      title: 'leak',
      scope: { kind: 'server', value: 'files' },
      reason: 'r',
      timeoutMs: 0,
    });
    const started = Date.now();
    const r = await notifyIncident(store, config, actor, incident.id, {
      smtpUrl: `smtp://127.0.0.1:${(smtp.server.address() as { port: number }).port}`,
      attempts: 3,
      backoffMs: 50,
    });
    const email = r.deliveries.find((d) => d.channel === 'email')!;
    const webhook = r.deliveries.find((d) => d.channel === 'webhook')!;
    assert.deepEqual([email.ok, email.attempts], [true, 2], 'the 451 was retried');
    assert.deepEqual(mails, ['files@example.test']);
    assert.deepEqual([webhook.ok, webhook.attempts, webhook.error], [false, 3, 'the webhook answered 500']);
    assert.equal(hookCalls, 3);
    assert.ok(Date.now() - started >= 50 + 100 + 50, 'backoff doubled between attempts');
    assert.deepEqual(
      recorded.filter((x) => x.action === 'incident.notice').map((x) => [x.channel, x.ok]),
      [
        ['email', true],
        ['webhook', false],
      ],
    );
    const after = await store.incidents.get(incident.id);
    assert.equal(after!.actions.at(-1)!.action, 'notified');
    // The webhook's URL is its credential: deliveries, records and the action log show its origin only.
    assert.match(webhook.to, /^http:\/\/127\.0\.0\.1:\d+\/…$/);
    assert.doesNotMatch(JSON.stringify([r, recorded, after]), /hook-secret/);

    const none = await notifyIncident(store, config, actor, incident.id, { smtpUrl: '', attempts: 1 });
    assert.match(none.deliveries.find((d) => d.channel === 'email')!.error!, /no smtp server/);
  } finally {
    await store.close();
  }
});
