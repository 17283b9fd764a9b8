/**
 * Containment is confirmed by every live gateway, not just one: two gateways share a store; `incident
 * open` for a tool and for a person returns once both applied it (and both refuse at once after it
 * returns); a gateway that heartbeats but never applies (a hung replica) is named, and the command
 * exits 1 after its timeout; one killed just before (its last heartbeat still fresh) is reported as
 * stopped answering once its heartbeat goes stale, not waited for until the timeout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/storage/index.ts';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { postModernCall } from './support/rpc.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-incident-replicas-'));
const storage = `storage: { sqlitePath: ${JSON.stringify(join(tmp, 'shared.db'))} }\n`;
const gateways: TestGateway[] = [];
let key = '';

before(async () => {
  for (let i = 0; i < 2; i++) {
    gateways.push(
      await startGateway(
        stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
          `    env: { RECORD_FILE: ${JSON.stringify(join(tmp, `rec-${i}.jsonl`))} }\n    tools: { record: { class: READ }, other: { class: WRITE } }\n`,
        { storage, top: 'identity: { apiKeys: true }\n' },
      ),
    );
  }
  key = await createKey(gateways[0].file, { name: 'pat-laptop', tenant: 'acme', person: 'pat', scopes: 'x' });
});
after(async () => {
  for (const g of gateways) await g.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function call(g: TestGateway, name: string): Promise<{ status: number; text: string }> {
  const r = await postModernCall(g.url, name, { note: 'x' }, { token: key });
  return { status: r.status, text: await r.text() };
}

test('a tool, then a person: confirmed by both gateways; both refuse as soon as open returns', async () => {
  for (const g of gateways) assert.match((await call(g, 'rec__other')).text, /"result"/);
  const tool = await runCli([
    'incident',
    'open',
    '--title',
    'other misbehaves',
    '--tool',
    'rec__other',
    '--reason',
    'r',
    '--json',
    '-c',
    gateways[1].file,
  ]);
  assert.equal(tool.code, 0, tool.stderr);
  const c = JSON.parse(tool.stdout).containment;
  assert.deepEqual([c.confirmed, c.gateways], [true, 2]);
  // Confirmed by both before the command returned: the first call on each is refused (no waiting).
  assert.ok(Number.isInteger(c.timeToEffectMs) && c.timeToEffectMs >= 0);
  for (const g of gateways) assert.match((await call(g, 'rec__other')).text, /unknown tool `rec__other`/);
  for (const g of gateways)
    assert.match((await call(g, 'rec__record')).text, /"result"/, 'the other tools keep working');

  const person = await runCli([
    'incident',
    'open',
    '--title',
    "pat's laptop",
    '--principal',
    'pat',
    '--reason',
    'stolen',
    '--json',
    '-c',
    gateways[0].file,
  ]);
  assert.equal(person.code, 0, person.stderr);
  const p = JSON.parse(person.stdout).containment;
  assert.deepEqual([p.confirmed, p.gateways, p.target], [true, 2, 'subject pat']);
  for (const g of gateways) assert.equal((await call(g, 'rec__record')).status, 401);
});

test('a gateway that is alive but never applies it is named; the command exits 1', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(tmp, 'shared.db') });
  const beat = () => store.revocations.heartbeat('gw-hung', Date.now(), Date.now());
  await beat();
  // The hung gateway itself: it keeps saying it is alive (a heartbeat every 500 ms) and applies nothing.
  const timer = setInterval(() => void beat(), 500);
  try {
    const r = await runCli([
      'incident',
      'open',
      '--title',
      'x',
      '--server',
      'rec',
      '--reason',
      'r',
      '--timeout',
      '1',
      '-c',
      gateways[0].file,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /contained: server:rec=disabled, but 1 gateway\(s\) did not confirm within 1 s: gw-hung/);
  } finally {
    clearInterval(timer);
    await store.revocations.forget('gw-hung');
    await store.close();
  }
});

test('a gateway killed just before the containment is reported as stopped answering, not waited for', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(tmp, 'shared.db') });
  const killed = 'vm/gw/75b9748e06a9cabb';
  const beat = () => store.revocations.heartbeat(killed, Date.now(), Date.now());
  await beat();
  // Alive until the command has written the containment, then killed: its last heartbeat is fresh
  // when the command reads who is live, and goes stale while it waits.
  const timer = setInterval(() => void beat(), 200);
  const killedOnce = (async () => {
    while (!(await store.modes.list()).some((m) => m.scope === 'tenant:killdrill'))
      await new Promise((r) => setTimeout(r, 20));
    clearInterval(timer);
  })();
  try {
    const r = await runCli([
      'incident',
      'open',
      '--title',
      'x',
      '--tenant',
      'killdrill',
      '--unseen',
      '--reason',
      'r',
      '--timeout',
      '20',
      '-c',
      gateways[0].file,
    ]);
    await killedOnce;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /contained: tenant:killdrill=disabled; 2 live gateway\(s\) applied it/);
    assert.match(
      r.stdout,
      /1 gateway\(s\) stopped answering while waited for \(no heartbeat for over 5 s\), not counted: vm\/gw\/75b9748e06a9cabb \(on host vm\)/,
    );
  } finally {
    clearInterval(timer);
    await store.revocations.forget(killed);
    await store.close();
  }
});
