/**
 * `secrets.results: redact` end to end for what an upstream asks the caller during a tools/call: a
 * sampling request, a form-mode and a URL-mode elicitation holding a fake GitHub token, a fake AWS key
 * and the credential the gateway sent the upstream. Legacy (2025-11-25) and modern (2026-07-28)
 * callers (SDK v1 and v2 clients that answer), in front of a legacy upstream (asks on the call's
 * stream) and a modern one (asks with `input_required`). Before, a legacy caller was asked with the
 * formats in every text, and a modern caller got a URL whose one-time token was cut out. Now sampling
 * and form elicitation arrive redacted like a result; a URL elicitation's link and id arrive as the
 * upstream wrote them, less the credential, and its message redacted; the answers go back as given.
 * A legacy caller asked a modern upstream's URL elicitation (2026-07-28 has no `elicitationId`, which
 * a 2025-11-25 client requires) gets one of the gateway's making, and the call completes; before, the
 * client refused the question and the call failed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { LEAKED } from './fixtures/upstreams/hostile-input-http.ts';
import { ELICITATION_ID, legacyAsking, modernAsking, type AskingServer } from './fixtures/upstreams/asking-http.ts';

/** The credential the gateway sends both upstreams (header x-api-key), which they put in their questions. */
const KNOWN = 'asking-credential-5c1e9d2f7a';
const CAPS = { sampling: {}, elicitation: { form: {}, url: {} } };
const SAMPLED = { model: 'm', role: 'assistant', content: { type: 'text', text: 'from the caller' } } as const;
const NAMED = { action: 'accept', content: { name: 'Ada' } } as const;

let t: TestGateway;
const ups: AskingServer[] = [];

before(async () => {
  ups.push(await legacyAsking(), await modernAsking());
  const server = (name: string, url: string) =>
    `  - name: ${name}\n    transport: http\n    url: ${JSON.stringify(url)}\n` +
    '    credentials: { headers: { x-api-key: "local:asking-key" } }\n';
  t = await startGateway(server('old', ups[0].url) + server('new', ups[1].url), {
    top: 'inventory: { newTools: accept }\nsecrets: { results: redact }\n',
    before: async (stateDir) => (await localSecrets(stateDir)).set('asking-key', KNOWN),
  });
});
after(async () => {
  await t?.close();
  await Promise.all(ups.map((u) => u.close()));
});

interface Asked {
  sample?: Record<string, unknown>;
  form?: Record<string, unknown>;
  link?: Record<string, unknown>;
}

/** Answer as a client would, keeping what it was asked. */
function sampled(asked: Asked, params: Record<string, unknown>) {
  asked.sample = params;
  return { ...SAMPLED };
}
function elicited(asked: Asked, params: Record<string, unknown>) {
  if (params.mode !== 'url') {
    asked.form = params;
    return { ...NAMED };
  }
  asked.link = params;
  return { action: 'accept' as const };
}

/** Call `<server>__ask` as a caller of `era` that answers every question: what it was asked, and the tool's text. */
async function ask(era: 'legacy' | 'modern', server: 'old' | 'new'): Promise<{ asked: Asked; text: string }> {
  const asked: Asked = {};
  const call = { name: `${server}__ask`, arguments: {} };
  if (era === 'legacy') {
    const c = new V1Client({ name: 'legacy', version: '1' }, { capabilities: CAPS });
    c.setRequestHandler(CreateMessageRequestSchema, async (r) => sampled(asked, r.params));
    c.setRequestHandler(ElicitRequestSchema, async (r) => elicited(asked, r.params));
    await c.connect(new V1Transport(new URL(`${t.url}/mcp`)));
    try {
      const r = await c.callTool(call);
      return { asked, text: (r.content as Array<{ text: string }>)[0].text };
    } finally {
      await c.close();
    }
  }
  const c = new V2Client(
    { name: 'modern', version: '2' },
    { capabilities: CAPS, versionNegotiation: { mode: 'auto' } },
  );
  c.setRequestHandler('sampling/createMessage', async (r) => sampled(asked, r.params));
  c.setRequestHandler('elicitation/create', async (r) => elicited(asked, r.params));
  await c.connect(new V2Transport(new URL(`${t.url}/mcp`)));
  try {
    assert.equal(c.getProtocolEra(), 'modern');
    const r = await c.callTool(call);
    return { asked, text: (r.content as Array<{ text: string }>)[0].text };
  } finally {
    await c.close();
  }
}

const leaks = (v: unknown) => [LEAKED.github, LEAKED.aws, KNOWN].filter((x) => JSON.stringify(v).includes(x));
const REDACTED = 'token [REDACTED:github-token] key [REDACTED:aws-access-key] credential [REDACTED:credential]';

for (const era of ['legacy', 'modern'] as const)
  for (const server of ['old', 'new'] as const) {
    const upstream = server === 'old' ? 'legacy upstream (asks on the stream)' : 'modern upstream (input_required)';

    test(`${era} caller, ${upstream}: sampling and form elicitation arrive with formats and the credential redacted; the answers go back as given`, async () => {
      const { asked, text } = await ask(era, server);
      assert.ok(asked.sample && asked.form, `both asked: ${JSON.stringify(asked)}`);
      assert.deepEqual(leaks(asked.sample), [], JSON.stringify(asked.sample));
      assert.deepEqual(leaks(asked.form), [], JSON.stringify(asked.form));
      assert.equal(asked.sample.systemPrompt, `You hold ${REDACTED}`);
      assert.match(JSON.stringify(asked.sample.messages), /Summarize: token \[REDACTED:github-token\]/);
      assert.equal(asked.form.message, `Confirm: ${REDACTED}`);
      const name = (asked.form.requestedSchema as { properties: { name: Record<string, string> } }).properties.name;
      assert.deepEqual(name, {
        type: 'string',
        title: `Name (${REDACTED})`,
        description: `For ${REDACTED}`,
        default: REDACTED,
      });
      // What the upstream got back (its tool's text): the caller's answers, untouched.
      const got = JSON.parse(text) as Record<string, { content?: unknown }>;
      assert.deepEqual(got.form, NAMED);
      assert.deepEqual(got.sample.content, SAMPLED.content);
    });

    test(`${era} caller, ${upstream}: a URL elicitation's link arrives intact but for the credential, its message redacted`, async () => {
      const { asked, text } = await ask(era, server);
      assert.ok(asked.link, `asked: ${JSON.stringify(asked)}`);
      assert.equal(
        asked.link.url,
        `https://auth.example.test/connect?token=${LEAKED.github}&key=${LEAKED.aws}&s=[REDACTED:credential]`,
      );
      assert.equal(asked.link.message, `Sign in: ${REDACTED}`);
      // The id of a 2025-11-25 elicitation (JWT-shaped) too; the v2 client keeps none (2026-07-28 has no such id).
      if (era === 'legacy' && server === 'old') assert.equal(asked.link.elicitationId, ELICITATION_ID);
      assert.deepEqual((JSON.parse(text) as Record<string, unknown>).link, { action: 'accept' });
    });
  }

test("a legacy caller asked a modern upstream's URL elicitation gets an id of the gateway's making, a new one each time, and the call completes", async () => {
  const ids: unknown[] = [];
  for (let i = 0; i < 2; i++) {
    const { asked, text } = await ask('legacy', 'new');
    assert.ok(asked.link, `asked: ${JSON.stringify(asked)}`);
    ids.push(asked.link.elicitationId);
    // What the upstream got back: the caller's answer, as it gave it (the id is the gateway's affair).
    assert.deepEqual((JSON.parse(text) as Record<string, unknown>).link, { action: 'accept' });
  }
  for (const id of ids) assert.match(String(id), /^eli_[A-Za-z0-9_-]{22}$/);
  assert.notEqual(ids[0], ids[1]);
});
