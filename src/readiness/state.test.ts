/**
 * The readiness items that used to be constants, computed from a real store: modes in force or ever
 * set, revocations a live gateway has not confirmed, decided approvals, calls left without an
 * outcome, a store that cannot be read, and tool schemas that cannot be enforced.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { openStore } from '../storage/index.ts';
import { readiness } from './check.ts';
import { gatherState } from './state.ts';
import { keyId } from '../credentials/local-store.ts';
import type { InventoryData } from '../inventory/report.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = parseConfig(
  `version: 1\ngateway: { stateDir: ${JSON.stringify(dir)} }\nservers: []\n`,
  join(dir, 'g.yaml'),
);
const noFacts = { bwrap: true, stateReadable: false } as never;
const inv: InventoryData = { servers: [], tools: [] };
const at = (items: ReturnType<typeof readiness>, id: string) => items.find((i) => i.id === id)!;

test('modes in force and unconfirmed revocations come from the store', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'a.db') });
  try {
    await store.modes.set({
      scope: 'server:github',
      mode: 'disabled',
      reason: 'incident',
      setBy: 'op',
      setAt: Date.now(),
    });
    await store.modes.set({ scope: 'tenant:acme', mode: 'read_only', reason: 'audit', setBy: 'op', setAt: Date.now() });
    let items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    assert.match(at(items, '7.2').why, /in force now: `?server:github/);
    assert.equal(at(items, '7.2').status, 'pass');
    assert.match(at(items, '6.5').why, /tenant:acme/);
    // No revocation yet (and no brokered credential to revoke): confirmation has not been shown, so it is not passed.
    assert.equal(at(items, '2.4').status, 'warn');
    assert.match(at(items, '2.4').why, /^no server uses brokered credentials/);
    // A live gateway that has not confirmed a revocation: the item fails and names the reference.
    await store.revocations.heartbeat('gw-1', Date.now(), Date.now());
    await store.revocations.revoke({
      ref: 'vault://secret/x#y',
      reason: 'leak',
      revokedBy: 'op',
      revokedAt: Date.now(),
    });
    items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    assert.equal(at(items, '2.4').status, 'fail');
    assert.match(at(items, '2.4').why, /vault:\/\/secret\/x#y/);
    await store.revocations.ack('vault://secret/x#y', 'gw-1', Date.now());
    items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    assert.equal(at(items, '2.4').status, 'pass');
    // A gateway that stopped heartbeating 10 s ago is not live (as for `incident revoke`): nothing
    // waits on its confirmation.
    await store.revocations.heartbeat('gw-stopped', Date.now() - 60_000, Date.now() - 10_000);
    items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    assert.equal(at(items, '2.4').status, 'pass', at(items, '2.4').why);
  } finally {
    await store.close();
  }
});

test('a call that started long ago without an outcome warns 5.1', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'b.db') });
  try {
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    const base = { v: 1 as const, stream: 's1', prev: '0'.repeat(64), hash: 'a'.repeat(64), time: old };
    await store.audit.appendBatch([{ ...base, id: 'i1', seq: 1, kind: 'call.intent', tool: 'x__y' }]);
    const items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    assert.equal(at(items, '5.1').status, 'warn');
    assert.match(at(items, '5.1').why, /1 call\(s\)/);
  } finally {
    await store.close();
  }
});

test('a store that cannot be read fails the items that need it, and a schema that cannot be enforced warns 6.2', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'c.db') });
  const tools = [
    {
      server: 's',
      tool: 'bad',
      present: true,
      pin: 'p1',
      def: { name: 'bad', inputSchema: { type: 'object', properties: { a: { type: 'no-such-type' } } } },
    },
  ] as never;
  const inv2: InventoryData = { servers: [], tools };
  const state = await gatherState(store, config, inv2);
  assert.deepEqual(state.uncheckable, ['s/bad']);
  assert.match(at(readiness(config, inv2, noFacts, state), '6.2').why, /s\/bad/);
  await store.close();
  // Closed: nothing can be read.
  const dead = await gatherState(store, config, inv);
  const items = readiness(config, inv, noFacts, dead);
  for (const id of ['2.4', '4.1', '5.1', '6.5', '7.1', '7.2', '7.3', '7.4'])
    assert.equal(at(items, id).status, 'fail', `${id}: ${at(items, id).why}`);
});

test("an export's lag is counted from the position the exporter keeps", async () => {
  const withExport = parseConfig(
    `version: 1\ngateway: { stateDir: ${JSON.stringify(dir)} }\nservers: []\naudit:\n  exports: [{ name: siem, type: file }]\n`,
    join(dir, 'g.yaml'),
  );
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'd.db') });
  try {
    await store.audit.appendBatch(records('s1', 3, new Date().toISOString()));
    let state = await gatherState(store, withExport, inv);
    assert.equal(state.audit?.exports.siem.lag, 3);
    assert.equal(state.audit?.exports.siem.delivered, false);
    // Where the exporter (src/audit/exports.ts) keeps its position after sending all three.
    const last = (await store.audit.read({ limit: 10 })).at(-1)!.position;
    await store.audit.setCursor('export:siem', last);
    state = await gatherState(store, withExport, inv);
    assert.deepEqual(state.audit?.exports, { siem: { lag: 0, delivered: true, waitingMs: 0 } });
    assert.match(at(readiness(withExport, inv, noFacts, state), '7.4').why, /1 export\(s\) up to date/);
  } finally {
    await store.close();
  }
});

/** `n` records of one stream written at `time` (the chain is not checked here). */
function records(stream: string, n: number, time: string) {
  const base = { v: 1 as const, stream, prev: '0'.repeat(64), hash: 'a'.repeat(64), time };
  return Array.from({ length: n }, (_, i) => ({
    ...base,
    id: `${stream}-${i + 1}`,
    seq: i + 1,
    kind: 'config.reloaded' as const,
  }));
}

test('a SIEM export that never delivered warns 5.4 and 7.4; one stalled for over five minutes fails 5.4', async () => {
  const withSiem = parseConfig(
    `version: 1\ngateway: { stateDir: ${JSON.stringify(dir)} }\nservers: []\naudit:\n  exports: [{ name: siem, type: http, format: splunk-hec, url: "https://127.0.0.1:1/services/collector" }]\n`,
    join(dir, 'g.yaml'),
  );
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'siem.db') });
  try {
    const now = Date.parse('2026-12-07T12:00:00Z');
    // Written a minute ago, nothing delivered: not yet stalled, but it has never delivered.
    await store.audit.appendBatch(records('s1', 2, new Date(now - 60_000).toISOString()));
    let items = readiness(withSiem, inv, noFacts, await gatherState(store, withSiem, inv, now));
    assert.equal(at(items, '5.4').status, 'warn');
    assert.equal(at(items, '5.4').why, 'siem has not delivered a record yet: 2 waiting');
    assert.equal(at(items, '7.4').status, 'warn');
    assert.match(at(items, '7.4').why, /siem has not delivered a record yet/);
    // Ten minutes on, still nothing: stalled.
    items = readiness(withSiem, inv, noFacts, await gatherState(store, withSiem, inv, now + 9 * 60_000));
    assert.equal(at(items, '5.4').status, 'fail');
    assert.match(
      at(items, '5.4').why,
      /^siem has delivered no record ever, and nothing for 10 min: 2 record\(s\) waiting/,
    );
    assert.match(at(items, '5.4').fix, /gatehouse_audit_export_failures_total/);
    assert.equal(at(items, '7.4').status, 'warn', 'the trail itself is still readable');
    // It delivered the first record, then stalled on the second.
    const first = (await store.audit.read({ limit: 1 }))[0].position;
    await store.audit.setCursor('export:siem', first);
    items = readiness(withSiem, inv, noFacts, await gatherState(store, withSiem, inv, now + 9 * 60_000));
    assert.match(at(items, '5.4').why, /^siem has delivered nothing for 10 min: 1 record\(s\) waiting/);
    // Caught up.
    await store.audit.setCursor('export:siem', first + 1);
    items = readiness(withSiem, inv, noFacts, await gatherState(store, withSiem, inv, now + 9 * 60_000));
    assert.equal(at(items, '5.4').status, 'pass');
    assert.equal(at(items, '5.4').why, 'exported to siem, up to date');
    assert.equal(at(items, '7.4').status, 'pass');
  } finally {
    await store.close();
  }
});

test('the secrets key: one set but not 32 bytes of base64 fails 2.7 saying how to make one; a good one passes', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'k.db') });
  try {
    const key2_7 = async (env: NodeJS.ProcessEnv) =>
      at(readiness(config, inv, noFacts, await gatherState(store, config, inv, Date.now(), env)), '2.7');
    const hex = 'a1'.repeat(32); // `openssl rand -hex 32`
    const bad = await key2_7({ GATEHOUSE_SECRETS_KEY: hex });
    assert.equal(bad.status, 'fail');
    assert.equal(
      bad.why,
      'GATEHOUSE_SECRETS_KEY is not 32 bytes of base64 (this one is hex): make one with `openssl rand -base64 32`: the gateway will not start',
    );
    assert.doesNotMatch(JSON.stringify(bad), /a1a1/);
    const good = await key2_7({ GATEHOUSE_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64') });
    assert.deepEqual(
      [good.status, good.why],
      ['pass', 'GATEHOUSE_SECRETS_KEY (set and valid); no gateway running to compare with'],
    );
    const none = await key2_7({});
    assert.equal(none.status, 'pass');
    assert.match(none.why, /^a key file the gateway makes in the state directory at its first start/);
  } finally {
    await store.close();
  }
});

test("2.7 compares the live gateways' key ids with each other's and with this environment's key", async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'ids.db') });
  try {
    const key = (n: number) => Buffer.alloc(32, n);
    const env = { GATEHOUSE_SECRETS_KEY: key(1).toString('base64') };
    const key2_7 = async (e: NodeJS.ProcessEnv = env) =>
      at(readiness(config, inv, noFacts, await gatherState(store, config, inv, Date.now(), e)), '2.7');
    // Three replicas on one store; each records its key's id at start (src/main.ts).
    for (const gw of ['gw-1', 'gw-2', 'gw-3']) {
      await store.revocations.heartbeat(gw, Date.now(), Date.now());
      await store.revocations.recordKeyId(gw, keyId(key(1)), Date.now());
    }
    let item = await key2_7();
    assert.deepEqual(
      [item.status, item.why],
      ['pass', 'GATEHOUSE_SECRETS_KEY (set and valid); the same key as all 3 live gateway(s)'],
    );
    // The CLI's environment has another key than theirs: said, not taken for theirs.
    item = await key2_7({ GATEHOUSE_SECRETS_KEY: key(2).toString('base64') });
    assert.equal(item.status, 'warn');
    assert.match(item.why, /^the live gateways share one key \([0-9a-f]{16}\), but not GATEHOUSE_SECRETS_KEY/);
    // A fourth replica started with another key: what a mismatch breaks, and who.
    await store.revocations.heartbeat('gw-4', Date.now(), Date.now());
    await store.revocations.recordKeyId('gw-4', keyId(key(3)), Date.now());
    item = await key2_7();
    assert.equal(item.status, 'fail');
    assert.match(
      item.why,
      /^the live gateways seal with 2 different secrets keys \(key [0-9a-f]{16}: gw-1, gw-2, gw-3; key [0-9a-f]{16}: gw-4\)/,
    );
    assert.match(item.why, /asked to authorise again/);
    assert.doesNotMatch(JSON.stringify(item), new RegExp(key(3).toString('base64').slice(0, 12)));
    // A key roll (GATEHOUSE_SECRETS_KEY_PREVIOUS): still a failure while one gateway cannot open what another seals...
    for (const gw of ['gw-1', 'gw-2', 'gw-3'])
      await store.revocations.recordKeyId(gw, keyId(key(1)), Date.now(), keyId(key(3)));
    item = await key2_7();
    assert.equal(item.status, 'fail', item.why);
    // ...and a roll in progress once each holds both keys.
    await store.revocations.recordKeyId('gw-4', keyId(key(3)), Date.now(), keyId(key(1)));
    item = await key2_7();
    assert.equal(item.status, 'warn', item.why);
    assert.match(item.why, /^a key roll is in progress: the live gateways seal with 2 keys .*each holds all of them/);
    // One that recorded nothing (an older version) cannot be compared.
    await store.revocations.forget('gw-4');
    await store.revocations.heartbeat('gw-old', Date.now(), Date.now());
    item = await key2_7();
    assert.equal(item.status, 'warn');
    assert.match(item.why, /1 live gateway\(s\) recorded no key id .*: gw-old$/);
  } finally {
    await store.close();
  }
});

test('a switch never thrown is not yet exercised (7.1, 7.2); one set and cleared since passes, naming who', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'e.db') });
  try {
    let items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    for (const id of ['7.1', '7.2']) {
      assert.equal(at(items, id).status, 'warn', at(items, id).why);
      assert.match(at(items, id).why, /^not yet exercised: no `mode set (shadow|disabled)` in the audit trail/);
    }
    // A drill: `gatehouse mode set disabled --tool ...` (recorded as an admin action), since cleared.
    const base = { v: 1 as const, stream: 'cli1', prev: '0'.repeat(64), hash: 'a'.repeat(64) };
    await store.audit.appendBatch([
      {
        ...base,
        id: 'm1',
        seq: 1,
        time: '2026-12-01T10:00:00.000Z',
        kind: 'admin.action',
        actor: { subject: 'cli:ops@host', tenant: '*', via: 'cli', issuer: '' },
        detail: { action: 'mode.set', scope: 'tool:files__write_file', mode: 'disabled', reason: 'drill' },
      },
    ]);
    items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    assert.equal(at(items, '7.2').status, 'pass');
    assert.match(
      at(items, '7.2').why,
      /last set for tool:files__write_file by cli:ops@host at 2026-12-01T10:00:00\.000Z/,
    );
    assert.equal(at(items, '7.1').status, 'warn', 'shadow was never set');
  } finally {
    await store.close();
  }
});

test('4.1 counts every approval a person decided: approved, denied, used, and expired after a decision', async () => {
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'f.db') });
  try {
    let items = readiness(config, inv, noFacts, await gatherState(store, config, inv));
    assert.equal(at(items, '4.1').status, 'warn');
    assert.match(at(items, '4.1').why, /not yet exercised: no approval has been decided/);
    const now = Date.now();
    const decision = {
      by: { key: 'k', subject: 'lead', tenant: 't', roles: ['lead'] },
      decision: 'approve' as const,
      at: now,
    };
    const req = (id: string, status: string, decisions: unknown[]) =>
      ({
        id,
        createdAt: now,
        expiresAt: now + 60_000,
        status,
        tenant: 't',
        requester: { key: 'r', subject: 'dev', tenant: 't', client: 'c' },
        server: 'files',
        tool: 'files__write_file',
        toolClass: 'WRITE',
        argsHash: 'sha256:x',
        args: {},
        pin: 'p',
        policyRevision: 'r',
        rule: 'default:class-approval',
        approversRule: { count: 1 },
        summary: 's',
        decisions,
      }) as never;
    await store.approvals.create(req('apr_1', 'used', [decision]));
    await store.approvals.create(req('apr_2', 'used', [decision]));
    await store.approvals.create(req('apr_3', 'denied', [{ ...decision, decision: 'deny' }]));
    await store.approvals.create(req('apr_4', 'expired', [decision]));
    await store.approvals.create(req('apr_5', 'expired', []));
    await store.approvals.create(req('apr_6', 'pending', []));
    const state = await gatherState(store, config, inv);
    assert.deepEqual(state.approvals, { decided: 4, unrecorded: 0, capped: false });
    items = readiness(config, inv, noFacts, state);
    assert.equal(at(items, '4.1').status, 'pass', at(items, '4.1').why);
    assert.match(at(items, '4.1').why, /4 decision\(s\) on record/);
  } finally {
    await store.close();
  }
});

test('4.1 fails when the policy may send a WRITE or DESTRUCTIVE tool for approval with no target to show', () => {
  const pdir = mkdtempSync(join(dir, 'pol-'));
  writeFileSync(
    join(pdir, 'policy.yaml'),
    `resources:
  - { tool: files__write_file, resource: { kind: path, arg: path } }
rules:
  - { id: reads, classes: [READ], effect: allow }
  - { id: changes, tools: ['files__*'], classes: [WRITE, DESTRUCTIVE], effect: approve }
`,
  );
  const withPolicy = parseConfig(
    `version: 1\ngateway: { stateDir: ${JSON.stringify(pdir)} }\npolicy: { files: [policy.yaml] }\nservers:\n` +
      '  - { name: files, transport: http, url: "https://f.example/mcp", tools: { write_file: { class: WRITE }, move_file: { class: DESTRUCTIVE }, read_file: { class: READ } } }\n' +
      '  - { name: other, transport: http, url: "https://o.example/mcp", tools: { wipe: { class: DESTRUCTIVE } } }\n',
    join(pdir, 'g.yaml'),
  );
  const state = { approvals: { decided: 1, unrecorded: 0, capped: false } };
  const item = readiness(withPolicy, inv, noFacts, state).find((i) => i.id === '4.1')!;
  assert.equal(item.status, 'fail');
  // other__wipe is never sent for approval (no rule covers it: denied), read_file is READ.
  assert.equal(
    item.why,
    'approvers would see no target for files__move_file: the policy may send them for approval and names no argument as their resource',
  );
});
