/**
 * Subjects are namespaces of their issuers, end to end: two identity providers (each its own signing
 * key) bound to one tenant sign tokens for the same `sub`, and a policy rule that lets issuer A's
 * `alice` call a DESTRUCTIVE tool applies to her only: issuer B's `alice`, and an API key made for
 * `alice`, are refused (and are not shown the tool), and their calls never reach the upstream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { replyOf, type Reply } from './support/rpc.ts';
import { freePort } from './support/processes.ts';
import { startSecondIssuer, type SecondIssuer } from './fixtures/oidc/second-issuer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-issuer-subjects-'));
const rec = join(tmp, 'rec.jsonl');
let idpA: SecondIssuer;
let idpB: SecondIssuer;
let t: TestGateway;
const ran = (needle: string) =>
  readFileSync(rec, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"') && l.includes(needle)).length;

before(async () => {
  writeFileSync(rec, '');
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  [idpA, idpB] = await Promise.all([startSecondIssuer(resource), startSecondIssuer(resource)]);
  writeFileSync(
    join(tmp, 'policy.yaml'),
    [
      'rules:',
      '  - id: alice-of-a-drops',
      `    subjects: { subjects: [{ issuer: ${JSON.stringify(idpA.issuer)}, subject: alice }] }`,
      '    tools: [rec__other]',
      '    effect: allow',
      '',
    ].join('\n'),
  );
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { other: { class: DESTRUCTIVE } }\n`,
    {
      port,
      top:
        `identity:\n  resource: ${resource}\n  issuers:\n    - { issuer: ${JSON.stringify(idpA.issuer)}, tenant: acme }\n    - { issuer: ${JSON.stringify(idpB.issuer)}, tenant: acme }\n` +
        `policy: { files: [${JSON.stringify(join(tmp, 'policy.yaml'))}] }\n`,
    },
  );
});
after(async () => {
  await t?.close();
  await idpA?.stop();
  await idpB?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function rpc(token: string, method: string, params: Record<string, unknown>): Promise<Reply> {
  const r = await fetch(`${t.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': method,
      ...(method === 'tools/call' ? { 'mcp-name': String(params.name) } : {}),
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: randomUUID(),
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  });
  return replyOf(r);
}
const drop = (token: string, note: string) => rpc(token, 'tools/call', { name: 'rec__other', arguments: { note } });
const lists = async (token: string) =>
  ((await rpc(token, 'tools/list', {})).result?.tools ?? []).map((x) => x.name).includes('rec__other');

test("a rule naming issuer A's alice: B's alice (same sub, her own signed token) and a key for alice are refused, and nothing reaches the upstream", async () => {
  const aliceA = await idpA.mint({ scope: 'mcp:tools' }, { subject: 'alice' });
  const aliceB = await idpB.mint({ scope: 'mcp:tools' }, { subject: 'alice' });
  const aliceKey = await createKey(t.file, { name: 'alice-key', tenant: 'acme', person: 'alice', scopes: 'mcp:tools' });

  const fromB = await drop(aliceB, `b-${randomUUID()}`);
  assert.match(fromB.error?.message ?? JSON.stringify(fromB), /unknown tool|denied/);
  const fromKey = await drop(aliceKey, `key-${randomUUID()}`);
  assert.match(fromKey.error?.message ?? JSON.stringify(fromKey), /unknown tool|denied/);
  assert.equal(ran('"b-'), 0, "issuer B's alice did not reach the upstream");
  assert.equal(ran('"key-'), 0, "the key's alice did not reach the upstream");
  assert.deepEqual([await lists(aliceB), await lists(aliceKey)], [false, false], 'nor is the tool listed to them');

  const note = `a-${randomUUID()}`;
  const fromA = await drop(aliceA, note);
  assert.equal(fromA.error, undefined, JSON.stringify(fromA));
  assert.equal(ran(note), 1, "issuer A's alice did");
  assert.equal(await lists(aliceA), true);
});
