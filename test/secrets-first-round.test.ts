/**
 * What goes upstream is checked against every tenant's secrets, and before the gateway has learned
 * them a request waits for them instead of going unchecked. A start waits at most 2 s for the first
 * round of learning (credentials/known-secrets.ts); a secrets manager slower than that (here a
 * command that takes 3 s per tenant) left a window after `/readyz` in which another tenant's secret
 * went upstream as it was. The call now waits for the round (at most 10 s more), and is refused as
 * the outbound check says.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { postModernCall, replyOf } from './support/rpc.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/tenant-server.ts');
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-first-round-'));
const record = join(tmp, 'record.jsonl');
const CANARY = { acme: `canary-acme-${randomUUID()}`, globex: `canary-globex-${randomUUID()}` };
const keys: Record<string, string> = {};
let t: TestGateway;

before(async () => {
  // Listed first: the round learns servers in order, so every tenant's canary waits for this one.
  const slow = `${stdioServer('slow', SERVER)}    credentials: { env: { TENANT_TOKEN: "exec:/bin/sh -c 'sleep 3; echo slow-{tenant}'" }, discoveryTenant: acme }\n`;
  const mt = `${stdioServer('mt', SERVER)}    env: { RECORD_FILE: ${JSON.stringify(record)} }\n    credentials: { env: { TENANT_TOKEN: "local:canary-{tenant}" }, discoveryTenant: acme }\n    tools: { strict: { class: READ } }\n`;
  t = await startGateway(slow + mt, {
    top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n',
    before: async (stateDir) => {
      const store = await localSecrets(stateDir);
      await store.set('canary-acme', CANARY.acme);
      await store.set('canary-globex', CANARY.globex);
      // Both tenants are known from the start (their keys are in the store the gateway opens).
      const file = join(dirname(stateDir), 'gatehouse.yaml');
      for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(file, { name: tenant, tenant });
    },
  });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const reachedStrict = () =>
  readFileSync(record, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"') && l.includes('"strict"')).length;

test("right after a start slower than its wait, another tenant's secret is refused, not sent unchecked", async () => {
  const before = reachedStrict();
  const r = await replyOf(
    await postModernCall(t.url, 'mt__strict', { repo: `see ${CANARY.globex} end`, n: 1 }, { token: keys.acme }),
  );
  assert.match(JSON.stringify(r.error ?? r), /secret:outbound|still learning the secrets/, JSON.stringify(r));
  assert.equal(reachedStrict(), before, 'nothing reached the upstream');
  // Once learned, an ordinary call goes through.
  const ok = await replyOf(await postModernCall(t.url, 'mt__strict', { repo: 'plain', n: 1 }, { token: keys.acme }));
  assert.equal(ok.result?.content?.[0]?.text, 'ok', JSON.stringify(ok));
});
