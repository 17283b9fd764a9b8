/**
 * /readyz through a gateway whose callers authenticate (operator walk F13: it was public through the
 * proxy and named every server, and which of them had no credentials). Without the scrape token it
 * says ready or not and why, in counts; with `gateway.metricsToken` set, its holder reads the names and
 * anyone else gets 401. No tool or tenant name is in either answer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseConfig } from '../src/config/load.ts';
import { EVERYTHING, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

const SCRAPE = 'scrape-token-of-the-readyz-test-0123456789';
let t: TestGateway;

before(async () => {
  t = await startGateway(
    `${stdioServer('everything', EVERYTHING, ['stdio'])}${stdioServer('payroll', EVERYTHING, ['stdio'])}    credentials: { env: { API_TOKEN: "local:payroll-{tenant}" } }\n`,
    { top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n', waitMs: 3000 },
  );
  await createKey(t.file, { name: 'acme', tenant: 'acme' });
});
after(async () => {
  await t?.close();
});

const readyz = async (token?: string) => {
  const r = await fetch(`${t.url}/readyz`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: r.status, text: await r.text() };
};

test('without the scrape token /readyz says ready or not and why, naming no server, tool or tenant; its holder reads the names', async () => {
  const open = await eventually(async () => {
    const r = await readyz();
    return r.text.includes('1 of 2 ready') ? r : undefined;
  });
  assert.equal(open.status, 503);
  assert.deepEqual(JSON.parse(open.text), {
    status: 'not ready',
    store: 'ok',
    audit: 'ok',
    upstreams: '1 of 2 ready; not ready: 1 credentials unavailable',
    detail: 'server names are shown to a caller with the scrape token (gateway.metricsToken)',
  });
  assert.doesNotMatch(open.text, /everything|payroll|echo|get-sum|acme|default/);

  // The operator sets the scrape token: anyone without it is refused, its holder reads the names.
  writeFileSync(t.file, readFileSync(t.file, 'utf8').replace('gateway:\n', `gateway:\n  metricsToken: ${SCRAPE}\n`));
  await t.gw.reload(parseConfig(readFileSync(t.file, 'utf8'), t.file));
  assert.equal((await readyz()).status, 401);
  const named = await readyz(SCRAPE);
  assert.equal(named.status, 503);
  assert.deepEqual(JSON.parse(named.text).upstreams, { everything: 'ready', payroll: 'credentials unavailable' });
});
