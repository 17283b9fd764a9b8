/**
 * Containing `anonymous` on a gateway without identity (walk N): every caller there is `anonymous`,
 * so that is the name an operator sees in the audit trail and revokes. `gatehouse principals revoke
 * --subject anonymous` and `gatehouse incident open --principal anonymous` refuse every caller
 * without a credential, and nothing reaches the upstream, until the subject is restored (or the
 * incident closed with --lift).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ROOT, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { openLegacySession, postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-anonymous-'));
const recorded = join(tmp, 'rec.jsonl');
let t: TestGateway;

before(async () => {
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(recorded)} }\n`,
  );
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A real MCP client's call, as a caller without a credential makes it: its text, or the error it got. */
async function clientCall(note: string): Promise<{ ok: boolean; text: string }> {
  const client = new Client({ name: 'anonymous-caller', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
    const r = await client.callTool({ name: 'rec__record', arguments: { note } });
    return { ok: !r.isError, text: JSON.stringify(r.content) };
  } catch (err) {
    return { ok: false, text: (err as Error).message };
  } finally {
    await client.close().catch(() => {});
  }
}

const cli = (...args: string[]) => runCli([...args, '-c', t.file]);
const reached = (note: string) => readFileSync(recorded, 'utf8').includes(note);

async function refusedEverywhere(note: string): Promise<void> {
  await eventually(async () => {
    const r = await postModernCall(t.url, 'rec__record', { note });
    assert.equal(r.status, 401);
    assert.match(await r.text(), /principal revoked: every caller without a credential is refused/);
    return true;
  });
  const c = await clientCall(note);
  assert.equal(c.ok, false, c.text);
  assert.equal(reached(note), false, 'a refused call reached the upstream');
}

test('`principals revoke --subject anonymous` refuses every caller without a credential until restored', async () => {
  const before = await clientCall('before-revoke');
  assert.ok(before.ok, before.text);
  assert.ok(reached('before-revoke'));

  const revoked = await cli('principals', 'revoke', '--subject', 'anonymous', '--reason', 'drill');
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /every caller without a credential is refused/);
  await refusedEverywhere('while-revoked');

  const restored = await cli('principals', 'restore', '--subject', 'anonymous');
  assert.equal(restored.code, 0, restored.stderr);
  await eventually(async () => {
    const again = await clientCall('after-restore');
    assert.ok(again.ok, again.text);
    return true;
  });
  assert.ok(reached('after-restore'));
});

test('`incident open --principal anonymous` contains every caller without a credential; `close --lift` lifts it', async () => {
  const opened = await cli(
    'incident',
    'open',
    '--title',
    't',
    '--principal',
    'anonymous',
    '--reason',
    'r',
    '--unseen',
    '--json',
  );
  assert.equal(opened.code, 0, opened.stderr);
  const id = (JSON.parse(opened.stdout) as { incident: { id: string } }).incident.id;
  await refusedEverywhere('while-contained');

  const text = await cli('incident', 'status', id);
  assert.equal(text.code, 0, text.stderr);
  const closed = await cli('incident', 'close', id, '--lift');
  assert.equal(closed.code, 0, closed.stderr);
  await eventually(async () => {
    const again = await clientCall('after-lift');
    assert.ok(again.ok, again.text);
    return true;
  });
});

test('the incident says what containing `anonymous` means', async () => {
  const opened = await cli('incident', 'open', '--title', 't', '--principal', 'anonymous', '--reason', 'r', '--unseen');
  assert.equal(opened.code, 0, opened.stderr);
  assert.match(
    opened.stdout,
    /contained: subject anonymous \(every caller without a credential is refused.*\); 1 live gateway\(s\) applied it/,
  );
  const id = /incident (inc_[0-9a-f]+) opened/.exec(opened.stdout)?.[1] as string;
  assert.equal((await cli('incident', 'close', id, '--lift')).code, 0);
});

test('what an anonymous caller opened before the revocation does not outlive it: its GET stream ends (walk O)', async () => {
  // The last test's lift reaches the gateway within a second.
  await eventually(async () => (await clientCall('before-stream')).ok);
  const sid = await openLegacySession(t.url, 'streamer', { initialized: true });
  const stream = await fetch(`${t.url}/mcp`, {
    headers: {
      accept: 'text/event-stream',
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25',
    },
  });
  assert.equal(stream.status, 200);
  const reader = stream.body!.getReader();
  const ended = (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      // cut: ended too
    }
    return true;
  })();
  const revoked = await cli('principals', 'revoke', '--subject', 'anonymous', '--reason', 'streams');
  assert.equal(revoked.code, 0, revoked.stderr);
  try {
    // Streams verify their caller every 5 s: bounded, not timed.
    const done = await Promise.race([ended, new Promise((r) => setTimeout(() => r(false), 15_000))]);
    assert.equal(done, true, 'the stream outlived the revocation');
  } finally {
    await reader.cancel().catch(() => {});
    assert.equal((await cli('principals', 'restore', '--subject', 'anonymous')).code, 0);
  }
});
