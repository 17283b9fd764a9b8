/**
 * A name the caller sent, quoted back in an error, is marked as every name shown to a person is
 * (src/util/marks.ts `identifier`, through the catalogue's `quote()`): a tool named `dеlete_repo`
 * (Cyrillic е) reads `dе⟨U+0435⟩lete_repo`, and zero-width characters, bidi controls and combining
 * marks show as `⟨U+200B⟩` rather than hide or reorder the message. Called through the gateway with
 * the real SDK clients of both eras; nothing reaches the upstream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-hostile-names-'));
const rec = join(dir, 'rec.jsonl');
let t: TestGateway;

before(async () => {
  writeFileSync(rec, '');
  writeFileSync(
    join(dir, 'policy.yaml'),
    'rules:\n  - { id: calls, effect: allow, tools: ["rec__*"] }\n  - { id: no-other, effect: deny, tools: [rec__other] }\n',
  );
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ }, other: { class: READ } }\n`,
    { top: `policy: { files: [${JSON.stringify(join(dir, 'policy.yaml'))}] }\n` },
  );
});
after(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Each hostile name as sent, and as the error must quote it. */
const NAMES: Array<[string, string, string]> = [
  ['Cyrillic е', 'rec__d\u0435lete_repo', 'rec__d\u0435⟨U+0435⟩lete_repo'],
  ['Greek ο', 'rec__rec\u03bfrd', 'rec__rec\u03bf⟨U+03BF⟩rd'],
  ['zero-width space', 'rec__rec\u200bord', 'rec__rec⟨U+200B⟩ord'],
  ['zero-width joiner', 'rec\u200d__record', 'rec⟨U+200D⟩__record'],
  ['right-to-left override', 'rec__\u202eother', 'rec__⟨U+202E⟩other'],
  ['isolate', 'rec__\u2067record\u2069', 'rec__⟨U+2067⟩record⟨U+2069⟩'],
  ['combining marks', 'rec__re\u0301\u0301cord', 'rec__re⟨U+0301 ×2⟩cord'],
  ['denied tool with a joiner', 'rec__other\u2060', 'rec__other⟨U+2060⟩'],
];

/** Every hidden or look-alike character the names hold: none may stand unmarked in a message. */
const BARE = /[\u200b-\u200f\u202a-\u202e\u2060-\u2069]|\p{M}|[\u0435\u03bf](?!⟨)/u;

const calls = () =>
  readFileSync(rec, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"'));

async function modern(): Promise<ModernClient> {
  const c = new ModernClient({ name: 'hostile-names', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await c.connect(new ModernTransport(new URL(`${t.url}/mcp`)));
  assert.equal(c.getNegotiatedProtocolVersion(), '2026-07-28');
  return c;
}
async function legacy(): Promise<LegacyClient> {
  const c = new LegacyClient({ name: 'hostile-names', version: '1.0.0' });
  await c.connect(new LegacyTransport(new URL(`${t.url}/mcp`)));
  return c;
}

test('an unknown tool named with look-alikes, zero-width, bidi or combining characters is quoted marked, to both eras; nothing reaches the upstream', async () => {
  for (const [era, open] of [
    ['modern', modern],
    ['legacy', legacy],
  ] as const) {
    const client = await open();
    try {
      for (const [what, name, shown] of NAMES) {
        const err = await client.callTool({ name, arguments: { note: 'x' } }).then(
          (r) => assert.fail(`${era} ${what}: answered ${JSON.stringify(r)}`),
          (e: Error) => e,
        );
        assert.match(err.message, /unknown tool `/, `${era} ${what}: ${err.message}`);
        assert.ok(err.message.includes(`\`${shown}\``), `${era} ${what}: ${err.message}`);
        assert.doesNotMatch(err.message, BARE, `${era} ${what}: ${err.message}`);
      }
    } finally {
      await client.close();
    }
  }
  assert.deepEqual(calls(), []);
  // The ASCII names themselves are served: the refusals above were the names, not the gateway.
  const c = await legacy();
  try {
    const ok = await c.callTool({ name: 'rec__record', arguments: { note: 'plain' } });
    assert.equal(ok.isError ?? false, false, JSON.stringify(ok));
    // A tool the policy denies is answered as one that is not there, with the same quoting.
    await assert.rejects(c.callTool({ name: 'rec__other', arguments: {} }), /unknown tool `rec__other`/);
  } finally {
    await c.close();
  }
  assert.equal(calls().length, 1);
});
