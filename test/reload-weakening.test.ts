/**
 * A reload that would weaken the gateway is refused (operator walk): `gatehouse start` with identity
 * and a policy, its file overwritten by a valid minimal one (`version: 1` and `servers:`, no
 * `identity:`, no `policy:`), kept refusing callers without a credential, and said why at error
 * level. The same change made deliberately (`gateway.reloadMayWeaken` naming it) is applied, at warn
 * level. On the old code the minimal file opened the gateway to anonymous callers at once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ROOT, startCli, stdioServer } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-weaken-'));
const recorded = join(dir, 'rec.jsonl');
const servers = `servers:\n${stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts'))}    env: { RECORD_FILE: ${JSON.stringify(recorded)} }\n    tools: { record: { class: WRITE } }\n`;
const gateway = (extra = '') =>
  `gateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\n${extra}`;
writeFileSync(join(dir, 'policy.yaml'), 'rules:\n  - { id: reads, classes: [READ], effect: allow }\n');
let gw: Awaited<ReturnType<typeof startCli>>;

before(async () => {
  gw = await startCli(
    `version: 1\n${gateway()}identity: { apiKeys: true }\npolicy: { files: [policy.yaml] }\n${servers}`,
    dir,
  );
});
after(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A real MCP client without a credential: `initialize`, then a WRITE call; the error it got, if any. */
async function anonymousWrite(note: string): Promise<{ ok: boolean; text: string }> {
  const client = new Client({ name: 'anonymous', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const r = await client.callTool({ name: 'rec__record', arguments: { note } });
    return { ok: !r.isError, text: JSON.stringify(r.content) };
  } catch (err) {
    return { ok: false, text: (err as Error).message };
  } finally {
    await client.close().catch(() => {});
  }
}

const reached = (note: string) => readFileSync(recorded, 'utf8').includes(note);
const line = (text: string) => JSON.parse(text) as { level: number; msg: string; err?: string; notes?: string[] };

test('a minimal file without identity and policy is refused: anonymous callers stay out, and the log says why', async () => {
  const first = await anonymousWrite('before');
  assert.equal(first.ok, false, first.text);
  const from = gw.log().length;
  writeFileSync(gw.file, `version: 1\n${servers}`);
  // Whatever the reload did (the old code applied it): callers without a credential stay out.
  const refused = line(await gw.logged(/configuration reload/, from));
  const after = await anonymousWrite('after-minimal');
  assert.equal(after.ok, false, after.text);
  assert.match(after.text, /401|authentication required/i);
  assert.equal(reached('after-minimal'), false, 'an anonymous call reached the upstream');
  assert.equal(refused.msg, 'configuration reload refused; keeping the last good configuration');
  assert.equal(refused.level, 50, 'logged at error level');
  assert.match(refused.err ?? '', /identity removed: callers without a credential would be served/);
  assert.match(refused.err ?? '', /policy removed: every call would be allowed/);
  assert.match(
    refused.err ?? '',
    /restart the gateway with the new file, or add `reloadMayWeaken: \[identity, policy\]`/,
  );
});

test('the same change made deliberately (reloadMayWeaken names it) is applied, at warn level', async () => {
  const from = gw.log().length;
  writeFileSync(gw.file, `version: 1\n${gateway('  reloadMayWeaken: [identity, policy]\n')}${servers}`);
  const applied = line(await gw.logged(/configuration reloaded/, from));
  assert.equal(applied.level, 40, 'logged at warn level');
  assert.ok(
    applied.notes?.some((n) => /^weaker: identity removed.*\(accepted: gateway\.reloadMayWeaken\)$/.test(n)),
    JSON.stringify(applied.notes),
  );
  const r = await anonymousWrite('deliberate');
  assert.equal(r.ok, true, r.text);
  assert.equal(reached('deliberate'), true);
});
