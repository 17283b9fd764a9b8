/**
 * A request is sent under the settings in force when it goes out, not under those it was decided on
 * (src/pipeline/stages/recheck.ts). A legacy call waiting for its approval, and a request whose body
 * trickles in, wait long after the gateway took its snapshot of policy, modes and identity: a policy
 * reload, a mode change or a revoked API key in between refuses them as it refuses a new request,
 * and nothing reaches the upstream; a legacy session's GET stream ends once its key is revoked. (An
 * attacker walk found such calls run, and such a stream go on, after the change was reported in force.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { modernHeaders, modernMeta, openLegacySession, postLegacy } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { loadConfig } from '../src/config/load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gh-recheck-'));
const rec = join(tmp, 'rec.jsonl');
const policy = join(tmp, 'policy.yaml');
/** `reads` and `writes`: whether rec__record is allowed and rec__other asks a lead. */
const rules = (reads: boolean, writes: boolean) =>
  `defaults:\n  approvers: { roles: [lead], count: 1 }\nrules:\n${reads ? '  - { id: reads, tools: [rec__record], effect: allow }\n' : ''}${writes ? '  - { id: writes-need-a-lead, tools: [rec__other], effect: approve }\n' : ''}  - { id: nothing, tools: [nobody__nothing], effect: allow }\n`;
let t: TestGateway;
const keys: Record<string, string> = {};

before(async () => {
  writeFileSync(policy, rules(true, true));
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ }, other: { class: WRITE } }\n`,
    {
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\napprovals: { waitSeconds: 30 }\n`,
    },
  );
  for (const [name, roles] of [
    ['boss', 'lead'],
    ['waiter', 'agent'],
    ['leaver', 'agent'],
    ['slow', 'agent'],
    ['gone', 'agent'],
    ['streamer', 'agent'],
  ])
    keys[name] = await createKey(t.file, { name, tenant: 'acme', person: name, roles, scopes: 'x' });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function setPolicy(reads: boolean, writes: boolean): Promise<void> {
  writeFileSync(policy, rules(reads, writes));
  await t.gw.reload(await loadConfig(t.file));
}

/** A legacy tools/call of rec__other that waits for its approval; its answer's text once it ends. */
async function waitingCall(who: string, note: string): Promise<{ answer: Promise<string>; approval: string }> {
  const sid = await openLegacySession(t.url, who, { token: keys[who], initialized: true });
  const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'rec__other', arguments: { note } } };
  const answer = postLegacy(t.url, call, { sid, token: keys[who] }).then((r) => r.text());
  const pending = await eventually(async () =>
    (await t.gw.store.approvals.list({ status: 'pending' })).find((a) => JSON.stringify(a.args).includes(note)),
  );
  return { answer, approval: pending.id };
}

const approve = async (id: string) =>
  assert.equal((await runCli(['approvals', 'approve', id, '--role', 'lead', '--by', 'boss', '-c', t.file])).code, 0);

test('a legacy call waiting for its approval is refused once approved, when policy no longer allows the tool; nothing runs', async () => {
  const { answer, approval } = await waitingCall('waiter', 'denied-meanwhile');
  await setPolicy(true, false);
  try {
    await approve(approval);
    assert.match(await answer, /unknown tool|denied/, 'refused as a new call would be');
    assert.equal(linesWith(rec, '"denied-meanwhile"'), 0, 'nothing reached the upstream');
  } finally {
    await setPolicy(true, true);
  }
  // A reload that leaves the decision as it was does not refuse a waiting call.
  const same = await waitingCall('waiter', 'unrelated-reload');
  await setPolicy(true, true);
  await approve(same.approval);
  assert.doesNotMatch(await same.answer, /"error"|isError":true/);
  assert.equal(linesWith(rec, '"unrelated-reload"'), 1, 'ran once');
});

test("a legacy call waiting for its approval is refused once approved, when the caller's API key was revoked meanwhile", async () => {
  const { answer, approval } = await waitingCall('leaver', 'revoked-meanwhile');
  assert.equal((await runCli(['keys', 'revoke', 'leaver', '--by', 'sec', '-c', t.file])).code, 0);
  await approve(approval);
  assert.match(await answer, /invalid token: .*revoked/);
  assert.equal(linesWith(rec, '"revoked-meanwhile"'), 0, 'nothing reached the upstream');
});

/** A 2026-07-28 tools/call whose headers go now and whose body comes when `finish` is called. */
function slowCall(token: string, note: string): { finish: () => Promise<string> } {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'rec__record', arguments: { note }, _meta: modernMeta() },
  });
  const req = request(`${t.url}/mcp`, {
    method: 'POST',
    headers: {
      ...modernHeaders('tools/call', 'rec__record'),
      authorization: `Bearer ${token}`,
      'content-length': String(Buffer.byteLength(body)),
    },
  });
  const answer = new Promise<string>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
  });
  req.write(body.slice(0, 10));
  return {
    finish: () => {
      req.end(body.slice(10));
      return answer;
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 300)); // the headers are read and the caller authenticated

test('a request whose body trickles in is decided on the policy in force once it has arrived', async () => {
  const slow = slowCall(keys.slow, 'slow-after-reload');
  await settle();
  await setPolicy(false, true);
  try {
    assert.match(await slow.finish(), /unknown tool|denied/);
    assert.equal(linesWith(rec, '"slow-after-reload"'), 0, 'nothing reached the upstream');
  } finally {
    await setPolicy(true, true);
  }
  const fine = slowCall(keys.slow, 'slow-unchanged');
  await settle();
  assert.doesNotMatch(await fine.finish(), /"error"/);
  assert.equal(linesWith(rec, '"slow-unchanged"'), 1);
});

test('a request whose body trickles in is refused when its API key is revoked before the body ends', async () => {
  const slow = slowCall(keys.gone, 'slow-after-revoke');
  await settle();
  assert.equal((await runCli(['keys', 'revoke', 'gone', '--by', 'sec', '-c', t.file])).code, 0);
  assert.match(await slow.finish(), /invalid token: .*revoked/);
  assert.equal(linesWith(rec, '"slow-after-revoke"'), 0, 'nothing reached the upstream');
});

test("a legacy session's GET stream ends once the API key that opened it is revoked", async () => {
  const sid = await openLegacySession(t.url, 'streamer', { token: keys.streamer, initialized: true });
  const stream = await fetch(`${t.url}/mcp`, {
    headers: {
      accept: 'text/event-stream',
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25',
      authorization: `Bearer ${keys.streamer}`,
    },
  });
  assert.equal(stream.status, 200);
  const reader = stream.body!.getReader();
  let ended = false;
  const drained = (async () => {
    while (!(await reader.read()).done);
    ended = true;
  })();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(ended, false, 'open while the key is good');
  assert.equal((await runCli(['keys', 'revoke', 'streamer', '--by', 'sec', '-c', t.file])).code, 0);
  await eventually(() => ended, { timeoutMs: 15_000, intervalMs: 100 });
  await drained;
});
