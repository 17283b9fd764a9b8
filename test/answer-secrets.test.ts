/**
 * What a caller answers an upstream's questions (sampling, elicitation) goes upstream checked as its
 * arguments are (`secrets.outbound`, default deny), in both eras: two tenants with a canary credential
 * each, real SDK v1 (2025-11-25) and v2 (2026-07-28) clients, a legacy upstream that asks on the
 * call's stream and a modern one that asks with `input_required`. Before, a legacy caller's answers
 * went upstream as they were, another tenant's credential or a GitHub token in them included, while a
 * modern caller's same answer (in its retry's params) was refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { LEAKED } from './fixtures/upstreams/hostile-input-http.ts';
import { legacyAsking, modernAsking, type AskingServer } from './fixtures/upstreams/asking-http.ts';

/** The credential each tenant's connections are given (header x-api-key). */
const CANARY = { acme: 'answer-canary-acme-7d2e9b41c6', globex: 'answer-canary-globex-3f8a6c05e2' };
const CAPS = { sampling: {}, elicitation: { form: {}, url: {} } };
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-answer-secrets-'));
const keys: Record<string, string> = {};
let t: TestGateway;
const ups: AskingServer[] = [];

before(async () => {
  ups.push(await legacyAsking(), await modernAsking());
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(
    policy,
    "rules:\n  - { id: both, subjects: { tenants: [acme, globex] }, tools: ['old__*', 'new__*'], effect: allow }\n",
  );
  const server = (name: string, url: string) =>
    `  - name: ${name}\n    transport: http\n    url: ${JSON.stringify(url)}\n` +
    '    credentials: { headers: { x-api-key: "local:asking-key-{tenant}" }, discoveryTenant: acme }\n' +
    '    tools: { ask: { class: READ } }\n';
  t = await startGateway(server('old', ups[0].url) + server('new', ups[1].url), {
    top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\n`,
    before: async (stateDir) => {
      const secrets = await localSecrets(stateDir);
      for (const [tenant, value] of Object.entries(CANARY)) await secrets.set(`asking-key-${tenant}`, value);
    },
  });
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  await Promise.all(ups.map((u) => u.close()));
  rmSync(tmp, { recursive: true, force: true });
});

/** What the caller answers: the sampled text and the form's name (a URL elicitation is accepted). */
interface Answers {
  sampled: string;
  name: string;
  /** More of the form's answer: its content's other keys, its `_meta`. */
  form?: { content?: Record<string, unknown>; _meta?: Record<string, unknown> };
}
const PLAIN: Answers = { sampled: 'a plain summary', name: 'Ada' };

type Outcome = { text: string; isError: boolean } | { code: number; message: string };

/** `<server>__ask` as `tenant`'s caller of `era`, answering every question with `answers`. */
async function ask(
  era: 'legacy' | 'modern',
  tenant: string,
  server: 'old' | 'new',
  answers: Answers,
): Promise<Outcome> {
  const sampled = () => ({
    model: 'm',
    role: 'assistant' as const,
    content: { type: 'text' as const, text: answers.sampled },
  });
  const elicited = (params: { mode?: string }) =>
    params.mode === 'url'
      ? { action: 'accept' as const }
      : {
          action: 'accept' as const,
          content: { name: answers.name, ...answers.form?.content },
          ...(answers.form?._meta ? { _meta: answers.form._meta } : {}),
        };
  const requestInit = { headers: { authorization: `Bearer ${keys[tenant]}` } };
  const url = new URL(`${t.url}/mcp`);
  const call = { name: `${server}__ask`, arguments: {} };
  const outcome = async (run: () => Promise<unknown>): Promise<Outcome> => {
    try {
      const r = (await run()) as { content?: unknown; isError?: unknown };
      return { text: (r.content as Array<{ text: string }>)[0].text, isError: r.isError === true };
    } catch (err) {
      return { code: (err as { code: number }).code, message: (err as Error).message };
    }
  };
  if (era === 'legacy') {
    const c = new V1Client({ name: `legacy-${tenant}`, version: '1' }, { capabilities: CAPS });
    c.setRequestHandler(CreateMessageRequestSchema, async () => sampled());
    c.setRequestHandler(ElicitRequestSchema, async (r) => elicited(r.params));
    await c.connect(new V1Transport(url, { requestInit }));
    try {
      return await outcome(() => c.callTool(call));
    } finally {
      await c.close();
    }
  }
  const c = new V2Client(
    { name: `modern-${tenant}`, version: '2' },
    { capabilities: CAPS, versionNegotiation: { mode: 'auto' } },
  );
  c.setRequestHandler('sampling/createMessage', async () => sampled());
  c.setRequestHandler('elicitation/create', async (r) => elicited(r.params));
  await c.connect(new V2Transport(url, { requestInit }));
  try {
    return await outcome(() => c.callTool(call));
  } finally {
    await c.close();
  }
}

const holds = (o: Outcome, secret: string) => JSON.stringify(o).includes(secret);

test('plain answers go upstream as given, in both eras, to both upstreams (and both tenants have connections)', async () => {
  for (const tenant of ['globex', 'acme'])
    for (const era of ['legacy', 'modern'] as const)
      for (const server of ['old', 'new'] as const) {
        const o = await ask(era, tenant, server, PLAIN);
        assert.ok('text' in o && !o.isError, `${tenant} ${era} ${server}: ${JSON.stringify(o)}`);
        const got = JSON.parse(o.text) as { sample: { content: { text: string } }; form: { content: unknown } };
        assert.equal(got.sample.content.text, PLAIN.sampled);
        assert.deepEqual(got.form.content, { name: PLAIN.name });
      }
});

for (const [what, answers, secret] of [
  ["another tenant's credential in a sampling answer", { ...PLAIN, sampled: `here: ${CANARY.globex}` }, CANARY.globex],
  ['a GitHub token in an elicitation answer', { ...PLAIN, name: LEAKED.github }, LEAKED.github],
] as const) {
  test(`${what}: a legacy caller's answer never reaches the upstream that asked on the stream; the upstream is told the gateway refused it`, async () => {
    const o = await ask('legacy', 'acme', 'old', answers);
    assert.ok('text' in o, JSON.stringify(o));
    // The upstream's tool failed on the refused answer: what it got is the gateway's refusal.
    assert.equal(o.isError, true, o.text);
    assert.match(o.text, /the gateway refused the client's answer/);
    assert.ok(!holds(o, secret), o.text);
    // The call's outcome record says why, naming no value.
    const records = (await t.gw.store.audit.read({ kind: 'call.outcome', limit: 10_000 })).map((r) => r.event);
    const reasons = records.flatMap((e) => (e.decision as { reasons?: string[] } | undefined)?.reasons ?? []);
    assert.ok(
      reasons.some((r) => /answer to `(sampling\/createMessage|elicitation\/create)` carries a credential/.test(r)),
      JSON.stringify(reasons),
    );
    assert.ok(!JSON.stringify(records).includes(secret));
  });

  test(`${what}: refused as a modern caller's retry is, for a legacy caller of a modern upstream and for modern callers`, async () => {
    for (const [era, server] of [
      ['legacy', 'new'],
      ['modern', 'new'],
      ['modern', 'old'],
    ] as const) {
      const o = await ask(era, 'acme', server, answers);
      assert.ok('code' in o, `${era} ${server}: ${JSON.stringify(o)}`);
      assert.equal(o.code, -32001, `${era} ${server}: ${JSON.stringify(o)}`);
      assert.match(o.message, /secret:outbound/);
      assert.ok(!holds(o, secret), o.message);
    }
  });
}

for (const [where, answers, path] of [
  ['a value', { ...PLAIN, name: 'lone \ud800 here' }, 'content.name'],
  ['a key', { ...PLAIN, form: { content: { 'k\udc00': 'x' } } }, 'content["k\\udc00"]'],
  ['its _meta', { ...PLAIN, form: { _meta: { 'm\ud800': 1 } } }, '_meta["m\\ud800"]'],
] as const) {
  test(`a lone UTF-16 surrogate in ${where} of an elicitation answer never reaches an upstream: -32602 naming where, in both eras`, async () => {
    // A legacy upstream that asked on the call's stream is told the gateway refused the answer.
    const o = await ask('legacy', 'globex', 'old', answers);
    assert.ok('text' in o && o.isError, JSON.stringify(o));
    assert.match(o.text, /the gateway refused the client's answer/);
    assert.ok(!/\\ud[89a-f]|[\ud800-\udfff]/i.test(o.text), o.text);
    // A modern upstream's retry is not made: the caller is told where its answer is not Unicode text.
    // (The 2026-07-28 SDK client sends no `_meta` of its own in an answer: a legacy caller only, there.)
    const modern = path.startsWith('_meta')
      ? []
      : ([
          ['modern', 'new'],
          ['modern', 'old'],
        ] as const);
    for (const [era, server] of [['legacy', 'new'] as const, ...modern]) {
      const r = await ask(era, 'globex', server, answers);
      assert.ok('code' in r, `${era} ${server}: ${JSON.stringify(r)}`);
      assert.equal(r.code, -32602, `${era} ${server}: ${JSON.stringify(r)}`);
      assert.ok(r.message.includes(path) && /lone UTF-16 surrogate/.test(r.message), `${era} ${server}: ${r.message}`);
    }
  });
}
