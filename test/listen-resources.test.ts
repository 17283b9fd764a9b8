/**
 * 2026-07-28 resource subscriptions: the revision replaced `resources/subscribe` with the
 * `resourceSubscriptions` filter of `subscriptions/listen` (changelog, major change 4; basic/patterns/
 * subscriptions). A modern caller's listen stream naming a URI hears `notifications/resources/updated`
 * for it, tagged with its subscription id, under the same terms as a legacy session's subscription: the
 * URI is subscribed through the pipeline (policy, audit) on the caller's tenant's connection, only that
 * tenant's callers hear what that connection says, a caller the policy denies the resource is not
 * acknowledged it and hears nothing, one a reload denied it since hears nothing more, and the upstream
 * subscription ends with its last holder. Before, the filter was ignored: no acknowledgment, no update.
 * Real SDK v2 clients (2026-07-28) -> a real gateway -> the tenant-server fixture, one process per tenant.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { eventually } from './support/eventually.ts';
import { modernMeta, postModern, replyOf } from './support/rpc.ts';
import { loadConfig } from '../src/config/load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-listen-resources-'));
const policy = join(tmp, 'policy.yaml');
const record = join(tmp, 'record.jsonl');
const CANARY = { acme: `canary-acme-${randomUUID()}`, globex: `canary-globex-${randomUUID()}` };
const PEOPLE = [
  ['alice', 'acme'],
  ['bob', 'acme'],
  ['ann', 'acme'],
  ['mallory', 'acme'],
  ['gina', 'globex'],
  ['nina', 'acme'],
] as const;
type Who = (typeof PEOPLE)[number][0];
const URI = 'gatehouse:mt/secret://token';

let t: TestGateway;
const keys = {} as Record<Who, string>;
const clients = {} as Record<Who, Client>;
/** The resource updates each caller heard: the uri and the subscription id they were tagged with. */
const heard = {} as Record<Who, Array<{ uri: string; sub: unknown }>>;

/** acme and globex may read `secret://token` of mt; mallory (and, once `denyAnn`, ann) nothing of mt. */
function rules(denyAnn = false): string {
  const denied = (denyAnn ? ['mallory', 'ann'] : ['mallory']).map((s) => `{ issuer: gatehouse, subject: ${s} }`);
  return `
rules:
  - id: tenants
    subjects: { tenants: [acme, globex] }
    tools: ['mt__*']
    effect: allow
  - id: tenant-resources
    subjects: { tenants: [acme, globex] }
    resources: ['secret://token', 'tenant://acme/notes']
    effect: allow
  - id: no-mt
    subjects: { subjects: [${denied.join(', ')}] }
    tools: ['mt__*']
    effect: deny
  - id: no-mt-resources
    subjects: { subjects: [${denied.join(', ')}] }
    resources: ['*']
    effect: deny
`;
}

before(async () => {
  writeFileSync(policy, rules());
  const creds = '    credentials: { env: { TENANT_TOKEN: "local:canary-{tenant}" }, discoveryTenant: acme }\n';
  t = await startGateway(
    `${stdioServer('mt', join(ROOT, 'test/fixtures/upstreams/tenant-server.ts'))}    env: { RECORD_FILE: ${JSON.stringify(record)} }\n${creds}    tools: { touch: { class: READ }, whoami: { class: READ } }\n`,
    {
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\nsecrets: { results: redact }\n`,
      before: async (stateDir) => {
        const store = await localSecrets(stateDir);
        await store.set('canary-acme', CANARY.acme);
        await store.set('canary-globex', CANARY.globex);
      },
    },
  );
  for (const [name, tenant] of PEOPLE) {
    const key = await createKey(t.file, { name, tenant, person: name, scopes: 'mcp:tools' });
    keys[name] = key;
    const c = new Client({ name, version: '1' }, { versionNegotiation: { mode: 'auto' } });
    heard[name] = [];
    c.setNotificationHandler('notifications/resources/updated', (n) => {
      heard[name].push({ uri: n.params.uri, sub: n.params._meta?.['io.modelcontextprotocol/subscriptionId'] });
    });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    assert.equal(c.getNegotiatedProtocolVersion(), '2026-07-28');
    clients[name] = c;
  }
});
after(async () => {
  await Promise.all(Object.values(clients).map((c) => c.close()));
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What reached the upstream processes: each message with the tenant whose process received it. */
const reached = (method: string, tenant: string) =>
  readFileSync(record, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { tenant: string; msg: { method?: string } })
    .filter((r) => r.tenant === tenant && r.msg.method === method).length;
/** `who`'s tenant's process says `secret://token` changed (a tool call of `who`'s). */
const touch = (who: Who) => clients[who].callTool({ name: 'mt__touch', arguments: { uri: 'secret://token' } });
/** Neither canary, whole or in halves, in anything `who` heard. */
function noCanary(who: Who): void {
  const s = JSON.stringify(heard[who]);
  for (const c of Object.values(CANARY))
    assert.ok(!s.includes(c.slice(0, 18)) && !s.includes(c.slice(18)), `${who} heard a canary: ${s}`);
}

test("a listen stream's resourceSubscriptions hear that resource's updates on the caller's own tenant's connection only", async () => {
  const subs = reached('resources/subscribe', 'acme');
  const a = await clients.alice.listen({ resourceSubscriptions: [URI] });
  assert.deepEqual(a.honoredFilter.resourceSubscriptions, [URI], 'acknowledged');
  const b = await clients.bob.listen({ resourceSubscriptions: [URI] });
  assert.deepEqual(b.honoredFilter.resourceSubscriptions, [URI]);
  assert.equal(reached('resources/subscribe', 'acme'), subs + 1, "one upstream subscription for acme's connection");
  const g = await clients.gina.listen({ resourceSubscriptions: [URI] });
  assert.deepEqual(g.honoredFilter.resourceSubscriptions, [URI], "globex's own subscription, on its own connection");
  await touch('alice');
  await eventually(() => heard.alice.length === 1 && heard.bob.length === 1, { timeoutMs: 10_000, intervalMs: 20 });
  assert.equal(heard.alice[0].uri, URI, 'the uri as the caller named it (namespaced on the aggregate endpoint)');
  assert.ok(heard.alice[0].sub !== undefined, 'tagged with its subscription id');
  await pause(300);
  assert.deepEqual(heard.gina, [], "globex hears nothing of acme's connection");
  await touch('gina');
  await eventually(() => heard.gina.length === 1, { timeoutMs: 10_000, intervalMs: 20 });
  await pause(300);
  assert.equal(heard.alice.length, 1, "acme hears nothing of globex's connection");
  for (const who of ['alice', 'bob', 'gina'] as const) noCanary(who);
  // The last of acme's holders out ends the upstream subscription; not before.
  const unsubs = reached('resources/unsubscribe', 'acme');
  await a.close();
  await pause(500);
  assert.equal(reached('resources/unsubscribe', 'acme'), unsubs, 'bob still holds it');
  await b.close();
  await eventually(() => reached('resources/unsubscribe', 'acme') === unsubs + 1, { timeoutMs: 10_000 });
  await g.close();
});

test("on a server's own endpoint the uri is the server's own, and so is the one its updates name", async () => {
  const c = new Client({ name: 'gina-mt', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  const got: string[] = [];
  c.setNotificationHandler('notifications/resources/updated', (n) => void got.push(n.params.uri));
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/servers/mt/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys.gina}` } },
    }),
  );
  const sub = await c.listen({ resourceSubscriptions: ['secret://token'] });
  assert.deepEqual(sub.honoredFilter.resourceSubscriptions, ['secret://token']);
  await touch('gina');
  await eventually(() => got.length === 1, { timeoutMs: 10_000, intervalMs: 20 });
  assert.deepEqual(got, ['secret://token']);
  await sub.close();
  await c.close();
});

test('a caller the policy denies the resource is not acknowledged it, and hears none of its updates', async () => {
  const m = await clients.mallory.listen({ resourceSubscriptions: [URI, 'gatehouse:nosuch/x://y'] });
  assert.equal(m.honoredFilter.resourceSubscriptions, undefined, 'forbidden and unknown look alike: neither');
  const a = await clients.alice.listen({ resourceSubscriptions: [URI] });
  const before = heard.alice.length;
  await touch('alice');
  await eventually(() => heard.alice.length === before + 1, { timeoutMs: 10_000, intervalMs: 20 });
  await pause(300);
  assert.deepEqual(heard.mallory, [], 'mallory hears nothing');
  await m.close();
  await a.close();
  // Each was decided and recorded as a resources/subscribe is: mallory's refusal too.
  const refused = await t.gw.store.audit.read({ kind: 'call.refused', tenant: 'acme', limit: 500 });
  assert.ok(
    refused.some((r) => r.event.method === 'resources/subscribe' && JSON.stringify(r.event).includes('mallory')),
    "a refusal record for mallory's subscription",
  );
});

test('a filter whose resourceSubscriptions are not a short list of uris is refused (-32602), and nothing is subscribed', async () => {
  const subs = reached('resources/subscribe', 'acme');
  for (const bad of ['secret://token', [1], Array.from({ length: 65 }, (_, i) => `x://${i}`)]) {
    const ac = new AbortController();
    const r = await replyOf(
      await postModern(
        t.url,
        'subscriptions/listen',
        { notifications: { resourceSubscriptions: bad }, _meta: modernMeta() },
        { token: keys.alice, signal: ac.signal },
      ),
    );
    ac.abort();
    assert.equal(r.error?.code, -32602, JSON.stringify(r));
  }
  assert.equal(reached('resources/subscribe', 'acme'), subs);
});

test('a reload that denies a caller the resource: its stream hears no more of it', async () => {
  const ann = await clients.ann.listen({ resourceSubscriptions: [URI] });
  assert.deepEqual(ann.honoredFilter.resourceSubscriptions, [URI]);
  const a = await clients.alice.listen({ resourceSubscriptions: [URI] });
  const [alices, anns] = [heard.alice.length, heard.ann.length];
  await touch('alice');
  await eventually(() => heard.ann.length === anns + 1, { timeoutMs: 10_000, intervalMs: 20 });
  writeFileSync(policy, rules(true));
  await t.gw.reload(await loadConfig(t.file));
  await touch('alice');
  await eventually(() => heard.alice.length === alices + 2, { timeoutMs: 10_000, intervalMs: 20 });
  await pause(300);
  assert.equal(heard.ann.length, anns + 1, 'no update of a resource she may no longer see');
  writeFileSync(policy, rules());
  await t.gw.reload(await loadConfig(t.file));
  await ann.close();
  await a.close();
});

test('a revoked person hears nothing more on its stream, while another of its tenant does', async () => {
  const b = await clients.bob.listen({ resourceSubscriptions: [URI] });
  const a = await clients.alice.listen({ resourceSubscriptions: [URI] });
  const [alices, bobs] = [heard.alice.length, heard.bob.length];
  const r = await runCli(['principals', 'revoke', '--subject', 'bob', '--reason', 'drill', '-c', t.file]);
  assert.equal(r.code, 0, r.stderr);
  await touch('alice');
  await eventually(() => heard.alice.length === alices + 1, { timeoutMs: 10_000, intervalMs: 20 });
  await pause(300);
  assert.equal(heard.bob.length, bobs, 'bob hears nothing once revoked');
  await Promise.all([a.close(), b.close()]);
});

test("listens past the caller's cap, opened at once, subscribe nothing that outlives them (walk CC)", async () => {
  const NOTES = 'gatehouse:mt/tenant://acme/notes';
  const subs = reached('resources/subscribe', 'acme');
  // Thirteen at once against a cap of ten a principal: each was admitted before its subscriptions were
  // made, and one refused only after had made them, and kept its hold on them for good.
  const opened = await Promise.all(
    Array.from({ length: 13 }, async () => {
      const ac = new AbortController();
      const r = await postModern(
        t.url,
        'subscriptions/listen',
        { notifications: { resourceSubscriptions: [NOTES] }, _meta: modernMeta() },
        { token: keys.nina, signal: ac.signal },
      );
      return { r, ac };
    }),
  );
  const refused = opened.filter((o) => o.r.headers.get('content-type')?.startsWith('application/json'));
  assert.equal(opened.length - refused.length, 10, 'ten streams open');
  for (const o of refused) assert.match(JSON.stringify(await replyOf(o.r)), /too many open listen streams for you/);
  // Only the ten admitted streams subscribed (each through the pipeline, recorded): the three past the
  // cap were refused before any subscription was made for them.
  const subscribed = (await t.gw.store.audit.read({ kind: 'call.intent', limit: 100_000 })).filter(
    (r) => r.event.method === 'resources/subscribe' && r.event.actor?.subject === 'nina',
  );
  assert.equal(subscribed.length, 10, 'a subscription per admitted stream, none for the refused');
  assert.ok(reached('resources/subscribe', 'acme') > subs, 'the admitted streams subscribed upstream');
  for (const o of opened) o.ac.abort();
});
