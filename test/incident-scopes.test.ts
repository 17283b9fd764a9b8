/**
 * Incidents for a tenant and for a principal, through the admin API: a tenant admin contains and
 * revokes its own tenant only (the other tenant keeps working, its credential untouched), and sees
 * only its own incidents; a platform admin revokes a person (every key acting for them is refused as
 * soon as the call returns); closing twice conflicts; a lift over the admin API is in force on the
 * gateway that served it before it answers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-incident-scopes-'));
let t: TestGateway;
const keys: Record<string, string> = {};

before(async () => {
  t = await startGateway(
    stdioServer('leaky', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(join(tmp, 'leaky.jsonl'))} }\n` +
      '    credentials: { env: { API_TOKEN: "local:canary-{tenant}" }, discoveryTenant: acme }\n    tools: { record: { class: READ } }\n',
    {
      top: 'identity: { apiKeys: true }\n',
      before: async (stateDir: string) => {
        const store = await localSecrets(stateDir);
        await store.set('canary-acme', `acme-${randomUUID()}`);
        await store.set('canary-globex', `globex-${randomUUID()}`);
      },
    },
  );
  keys.acme = await createKey(t.file, { name: 'acme', tenant: 'acme', scopes: 'x' });
  keys.globex = await createKey(t.file, { name: 'globex', tenant: 'globex', scopes: 'x' });
  keys.alice = await createKey(t.file, { name: 'alice', tenant: 'globex', person: 'alice', scopes: 'x' });
  keys['acme-admin'] = await createKey(t.file, {
    name: 'acme-admin',
    tenant: 'acme',
    roles: 'gatehouse-admin',
    scopes: 'x',
  });
  keys.ops = await createKey(t.file, { name: 'ops', tenant: 'acme', roles: 'gatehouse-platform-admin', scopes: 'x' });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function call(key: string, name = 'leaky__record'): Promise<{ status: number; text: string }> {
  const r = await postModernCall(t.url, name, { note: 'x' }, { token: keys[key] });
  return { status: r.status, text: await r.text() };
}
const ok = (r: { text: string }) => /"result"/.test(r.text) && !/"isError":true/.test(r.text);
/** What the admin API's incident routes answer: the fields these tests read, by route. */
interface IncidentAnswer {
  incident: { id: string };
  incidents: Array<{ id: string }>;
  containment: { confirmed: boolean; target: string };
  credentials: Array<{ ref: string; confirmed: boolean }>;
  apiKeys: Array<{ name: string }>;
  skipped: Array<{ ref: string; why?: string }>;
  servers: unknown;
  deliveries: unknown;
  status: string;
  actions: Array<{ action: string }>;
  closedBy: string;
  manifest: { files: Record<string, string>; signature: string };
  files: Record<string, string>;
}
const api = async (key: string, path: string, body?: unknown) => {
  const r = await fetch(`${t.url}/admin/v1/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[key]}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as IncidentAnswer };
};

test('a tenant admin contains and revokes its own tenant only; sees its own incidents only', async () => {
  assert.ok(ok(await call('acme')), 'acme works before');
  assert.ok(ok(await call('globex')), 'globex works before');
  assert.equal((await api('acme', 'incidents')).status, 403, 'an agent cannot');
  assert.equal(
    (await api('acme-admin', 'incidents', { title: 't', reason: 'r', tool: 'leaky__record' })).status,
    403,
    'a tool reaches beyond one tenant',
  );
  assert.equal(
    (await api('acme-admin', 'incidents', { title: 't', reason: 'r', tenant: 'globex' })).status,
    403,
    'another tenant',
  );
  assert.equal(
    (await api('acme-admin', 'incidents', { title: 't', tenant: 'acme' })).status,
    400,
    'a reason is required',
  );
  // A misspelt tool contains nothing: refused with the name meant (a platform admin's request).
  const typo = await api('ops', 'incidents', { title: 't', reason: 'r', tool: 'leaky__recrod' });
  assert.equal(typo.status, 400);
  assert.match(
    JSON.stringify(typo.body),
    /did you mean `leaky__record`\? \(a tool it has not listed yet: \\"allowUnknown\\": true\)/,
  );
  // So is a misspelt tenant or principal (walk L); one not seen yet is named on purpose.
  const tenantTypo = await api('ops', 'incidents', { title: 't', reason: 'r', tenant: 'globx' });
  assert.equal(tenantTypo.status, 400);
  assert.match(
    JSON.stringify(tenantTypo.body),
    /no tenant `globx` is known .*: did you mean `globex`\? \(a tenant not seen yet: \\"unseen\\": true\)/,
  );
  const nobody = await api('ops', 'incidents', { title: 't', reason: 'r', principal: 'nobody-at-all' });
  assert.equal(nobody.status, 400);
  assert.match(JSON.stringify(nobody.body), /no principal `nobody-at-all` is known/);
  assert.deepEqual(await t.gw.store.modes.list(), []);
  assert.deepEqual(await t.gw.store.principalRevocations.list(), []);

  const opened = await api('acme-admin', 'incidents', {
    title: 'acme agent gone rogue',
    reason: 'exfiltration',
    tenant: 'acme',
    since: '10m',
  });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  assert.equal(opened.body.containment.confirmed, true);
  assert.equal(opened.body.containment.target, 'tenant:acme=disabled');
  const id = opened.body.incident.id as string;
  assert.ok(!ok(await call('acme')), 'acme is refused at once');
  assert.ok(ok(await call('globex')), 'globex keeps working');

  const revoked = await api('acme-admin', `incidents/${id}/revoke`, {});
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.deepEqual(
    revoked.body.credentials.map((c: { ref: string; confirmed: boolean }) => [c.ref, c.confirmed]),
    [['local:canary-acme', true]],
  );
  assert.deepEqual(
    revoked.body.apiKeys.map((k: { name: string }) => k.name),
    ['acme'],
    "the tenant's keys, but not the admin's own, nor a platform admin's that names the tenant",
  );
  assert.ok(revoked.body.skipped.some((s: { ref: string }) => s.ref === 'api key acme-admin'));
  assert.ok(
    revoked.body.skipped.some(
      (s: { ref: string; why?: string }) =>
        s.ref === 'api key ops' && /only a platform admin revokes it/.test(s.why ?? ''),
    ),
    JSON.stringify(revoked.body.skipped),
  );
  assert.equal((await api('ops', 'incidents')).status, 200, 'the platform admin is not locked out');
  assert.equal((await call('acme')).status, 401, "acme's key is refused");
  assert.ok(ok(await call('globex')), "globex's credential is untouched");

  // A gateway-wide incident (opened by the operator) is not the tenant admin's to see.
  const other = await runCli([
    'incident',
    'open',
    '--title',
    'globex thing',
    '--tool',
    'leaky__record',
    '--reason',
    'r',
    '--json',
    '-c',
    t.file,
  ]);
  assert.equal(other.code, 0, other.stderr);
  const otherId = JSON.parse(other.stdout).incident.id as string;
  const listed = await api('acme-admin', 'incidents');
  assert.deepEqual(
    listed.body.incidents.map((i: { id: string }) => i.id),
    [id],
  );
  assert.equal((await api('acme-admin', `incidents/${otherId}`)).status, 404, "another's incident looks like none");
  assert.equal((await api('acme-admin', `incidents/${otherId}/close`, {})).status, 404);
  assert.equal((await runCli(['incident', 'close', otherId, '--lift', '-c', t.file])).code, 0);

  const notified = await api('acme-admin', `incidents/${id}/notify`, { smtp: 'smtp://203.0.113.9:25' });
  assert.equal(notified.status, 200);
  assert.deepEqual(
    [notified.body.servers, notified.body.deliveries],
    [['leaky'], []],
    'no owner on record; and no host from the request is dialled',
  );
  // Owners of a shared server are told, not flooded: a tenant admin waits before telling them again.
  const again = await api('acme-admin', `incidents/${id}/notify`, {});
  assert.equal(again.status, 429, JSON.stringify(again.body));
  assert.match(JSON.stringify(again.body), /may tell them again in \d+ s/);
  const closed = await api('acme-admin', `incidents/${id}/close`, { note: 'agent rebuilt', lift: true });
  assert.equal(closed.status, 200);
  assert.equal(closed.body.status, 'closed');
  assert.deepEqual(
    closed.body.actions.map((a: { action: string }) => a.action),
    ['contained', 'revoked', 'notified', 'closed'],
  );
  assert.equal((await api('acme-admin', `incidents/${id}/close`, {})).status, 409);
  const got = await api('acme-admin', `incidents/${id}`);
  assert.equal(got.body.closedBy, 'apikey:acme-admin@acme (tenant admin)');
  // The operator's incident was closed with --lift from the CLI, another process: this gateway applies
  // the lift at its next read of the modes (within a second). The next test starts from there.
  await eventually(async () => ok(await call('globex')));
});

test('a principal: every key acting for the person is refused once open returns; revoke takes the keys', async () => {
  keys.ops2 = await createKey(t.file, {
    name: 'ops2',
    tenant: 'globex',
    roles: 'gatehouse-platform-admin',
    scopes: 'x',
  });
  assert.ok(ok(await call('alice')), 'alice works before');
  const opened = await api('ops2', 'incidents', {
    title: "alice's laptop stolen",
    reason: 'stolen device',
    principal: 'alice',
  });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  assert.equal(opened.body.containment.confirmed, true);
  assert.equal((await call('alice')).status, 401, 'refused at once');
  assert.ok(ok(await call('globex')), 'the rest of the tenant keeps working');
  const revoked = await api('ops2', `incidents/${opened.body.incident.id}/revoke`, {});
  assert.deepEqual(
    revoked.body.apiKeys.map((k: { name: string }) => k.name),
    ['alice'],
  );
  assert.deepEqual(revoked.body.credentials, [], "the tenant's shared credential is not the person's");
  const status = JSON.parse(
    (await runCli(['incident', 'status', opened.body.incident.id, '--json', '-c', t.file])).stdout,
  );
  assert.equal(status.openedBy, 'apikey:ops2@globex (platform admin)');
});

test("a principal's revoke takes the keys acting for the person, not another tenant's service key that bears the person's name", async () => {
  keys['bob-laptop'] = await createKey(t.file, { name: 'bob-laptop', tenant: 'globex', person: 'bob', scopes: 'x' });
  keys.bob = await createKey(t.file, { name: 'bob', tenant: 'acme', scopes: 'x' }); // a service key, not bob's
  const opened = await api('ops2', 'incidents', { title: "bob's laptop", reason: 'stolen device', principal: 'bob' });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  const revoked = await api('ops2', `incidents/${opened.body.incident.id}/revoke`, {});
  assert.deepEqual(
    revoked.body.apiKeys.map((k: { name: string }) => k.name),
    ['bob-laptop'],
  );
  const bob = (await t.gw.store.apiKeys.list()).find((k) => k.name === 'bob');
  assert.equal(bob?.revokedAt, null, "acme's service key named bob is not revoked");
});

test('the evidence bundle over the admin API: a platform admin gets the manifest and files (their digests match); a tenant admin is refused', async () => {
  const opened = await api('ops2', 'incidents', { title: 'bundle', reason: 'evidence', tool: 'leaky__record' });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  const id = opened.body.incident.id as string;
  const r = await api('ops2', `incidents/${id}/export`, {});
  assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  const { createHash } = await import('node:crypto');
  for (const [name, digest] of Object.entries(r.body.manifest.files as Record<string, string>)) {
    assert.equal(createHash('sha256').update(r.body.files[name]).digest('hex'), digest.replace(/^sha256:/, ''), name);
  }
  assert.ok(r.body.files['audit.jsonl'] !== undefined && r.body.manifest.signature);
  assert.equal(
    (await api('acme-admin', `incidents/${id}/export`, {})).status,
    404,
    "a tenant admin does not see the operator's incident",
  );
  await runCli(['incident', 'close', id, '--lift', '-c', t.file]);
});

test('closing with lift over the admin API lifts the containment on this gateway before it answers (no Redis here)', async () => {
  await eventually(async () => ok(await call('globex'))); // the previous test's CLI lift, read at the next poll
  const opened = await api('ops2', 'incidents', { title: 'lift', reason: 'drill', tool: 'leaky__record' });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  assert.ok(!ok(await call('globex')), 'contained');
  const closed = await api('ops2', `incidents/${opened.body.incident.id}/close`, { lift: true });
  assert.equal(closed.status, 200, JSON.stringify(closed.body));
  assert.ok(ok(await call('globex')), 'the next call, with no wait, is served');
});

test('a tenant admin never undoes what the platform or an operator put on its tenant, over the admin API', async () => {
  // The platform (a platform admin whose own tenant is acme) contains acme.
  keys.ops3 = await createKey(t.file, { name: 'ops3', tenant: 'acme', roles: 'gatehouse-platform-admin', scopes: 'x' });
  const opened = await api('ops3', 'incidents', { title: 'platform', reason: 'compromised agent', tenant: 'acme' });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  const id = opened.body.incident.id;
  const closing = await api('acme-admin', `incidents/${id}/close`, { lift: true });
  assert.equal(closing.status, 403, JSON.stringify(closing.body));
  assert.ok((await t.gw.store.modes.list()).some((m) => m.scope === 'tenant:acme' && m.mode === 'disabled'));
  assert.equal((await api('ops3', `incidents/${id}/close`, { lift: true })).status, 200);
  // An operator's mode at the CLI: opening an incident would replace it (then lift it): refused too.
  const set = await runCli([
    'mode',
    'set',
    'disabled',
    '--tenant',
    'acme',
    '--by',
    'oncall@acme',
    '--reason',
    'suspended',
    '-c',
    t.file,
  ]);
  assert.equal(set.code, 0, set.stderr);
  const replace = await api('acme-admin', 'incidents', { title: 'mine', reason: 'r', tenant: 'acme' });
  assert.equal(replace.status, 403, JSON.stringify(replace.body));
  assert.equal((await t.gw.store.modes.list()).find((m) => m.scope === 'tenant:acme')?.setBy, 'oncall@acme');
  assert.equal((await runCli(['mode', 'clear', '--tenant', 'acme', '-c', t.file])).code, 0);
});
