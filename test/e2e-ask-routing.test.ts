/**
 * End to end: a server->client request reaches the caller whose call caused it, and only that caller,
 * on a stdio upstream (which cannot say which call asks). Two legacy callers (SDK v1 clients, each
 * with its own session) call the same tenant's stdio server at the same time; each is asked only
 * its own question. Upstreams from npm, written by others: server-everything and the SDK v1 example
 * `toolWithSampleServer` (a tool that asks the client's LLM to summarize its argument).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

const SUMMARIZER = join(
  ROOT,
  'node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/toolWithSampleServer.js',
);
const LIMIT = { timeout: 30_000 };
let t: TestGateway;

before(async () => {
  t = await startGateway(stdioServer('everything', EVERYTHING, ['stdio']) + stdioServer('summarizer', SUMMARIZER));
});
after(async () => t?.close());

/** A legacy caller that can sample; it records what it was asked and answers after `delayMs`, naming itself. */
async function caller(name: string, delayMs = 300): Promise<{ client: Client; asked: string[] }> {
  const asked: string[] = [];
  const client = new Client({ name, version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    asked.push(JSON.stringify(req.params.messages));
    // A slow answer on purpose: the other caller's call arrives while this question is still open.
    // (Waiting for that call instead could deadlock: the gateway lets the calls take turns.)
    await new Promise((r) => setTimeout(r, delayMs));
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: `answered by ${name}` } };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  return { client, asked };
}

const textOf = (r: unknown) => JSON.stringify((r as { content?: unknown }).content);

for (const [server, tool, args] of [
  ['summarizer', 'summarizer__summarize', (secret: string) => ({ text: secret })],
  ['everything', 'everything__trigger-sampling-request', (secret: string) => ({ prompt: secret, maxTokens: 10 })],
] as const) {
  test(`${server}: two callers at once on one stdio connection, each asked only its own question`, LIMIT, async () => {
    const alice = await caller('alice');
    const bob = await caller('bob');
    try {
      // Once the server has asked anything, calls of callers that can be asked take turns on the
      // connection; this first call shows the gateway that the server asks.
      const first = await alice.client.callTool({ name: tool, arguments: args('warm-up') });
      assert.match(textOf(first), /answered by alice/);
      for (let round = 0; round < 2; round++) {
        alice.asked.length = 0;
        bob.asked.length = 0;
        const [a, b] = await Promise.all([
          alice.client.callTool({ name: tool, arguments: args(`alice-secret-${round}`) }),
          bob.client.callTool({ name: tool, arguments: args(`bob-secret-${round}`) }),
        ]);
        assert.match(textOf(a), /answered by alice/);
        assert.match(textOf(b), /answered by bob/);
        assert.equal(alice.asked.length, 1, 'alice was asked once');
        assert.equal(bob.asked.length, 1, 'bob was asked once');
        assert.match(alice.asked[0], new RegExp(`alice-secret-${round}`));
        assert.doesNotMatch(alice.asked[0], /bob/);
        assert.match(bob.asked[0], new RegExp(`bob-secret-${round}`));
        assert.doesNotMatch(bob.asked[0], /alice/);
      }
    } finally {
      await Promise.all([alice.client.close(), bob.client.close()]);
    }
  });
}

test('a question put after the caller ended its session is answered at once, and not sent', LIMIT, async () => {
  const tool = 'everything__trigger-sampling-request';
  const asked: string[] = [];
  let release = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  const client = new Client({ name: 'leaver', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const text = JSON.stringify(req.params.messages);
    asked.push(text);
    if (!text.includes('warm-up')) await held; // the question of the call the session ends under
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'answered' } };
  });
  const transport = new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`));
  await client.connect(transport);
  try {
    await client.callTool({ name: tool, arguments: { prompt: 'warm-up', maxTokens: 5 } });
    // The first call's question stays open; the second waits for its turn on the connection, and
    // its question comes once the first call has ended, after the session has.
    const first = client.callTool({ name: tool, arguments: { prompt: 'first', maxTokens: 5 } });
    const second = client.callTool({ name: tool, arguments: { prompt: 'second', maxTokens: 5 } });
    await eventually(() => asked.some((q) => q.includes('first')), { timeoutMs: 10_000 });
    const ended = Date.now();
    await transport.terminateSession();
    const [a, b] = await Promise.allSettled([first, second]);
    const elapsed = Date.now() - ended;
    for (const [name, r] of [
      ['first', a],
      ['second', b],
    ] as const) {
      const text = JSON.stringify(r.status === 'fulfilled' ? r.value : String(r.reason));
      assert.match(text, /the client ended the session/, `${name}: ${text}`);
    }
    assert.ok(elapsed < 10_000, `both calls ended ${elapsed} ms after the session`);
    assert.ok(!asked.some((q) => q.includes('second')), 'nothing was asked after the session ended');
  } finally {
    release();
    await client.close();
  }
});
