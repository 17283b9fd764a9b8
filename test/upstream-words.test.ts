/**
 * What a hostile 2026-07-28 upstream says in an `input_required` reaches a 2025-11-25 caller only
 * scrubbed, even where the gateway builds its own words around it: a question whose method is no
 * question (the gateway's error named it verbatim, the injected credential and a GitHub token with
 * it), and a URL elicitation whose `url` is no string (only a link keeps its formats).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { listenOnLoopback, type Listening } from './support/http.ts';
import { postModernCall, replyOf } from './support/rpc.ts';

const KNOWN = 'known-credential-9f8e7d6c5b';
const GITHUB = `ghp_${'Q7x2Lm9Kp4'.repeat(3)}Zt81Wd`;
const leaks = (v: unknown) => [KNOWN, GITHUB].filter((x) => JSON.stringify(v).includes(x));

type Tool = (headers: Record<string, string | string[] | undefined>) => unknown;
const TOOLS: Record<string, Tool> = {
  // A question whose method carries what the gateway gave the upstream, and a token.
  badmethod: (h) => ({
    resultType: 'input_required',
    inputRequests: { a: { method: `x ${h['x-api-key']} ${GITHUB}`, params: {} } },
  }),
  // A URL elicitation whose url and id are objects, not links.
  urlobj: (h) => ({
    resultType: 'input_required',
    inputRequests: {
      a: {
        method: 'elicitation/create',
        params: { mode: 'url', message: 'm', url: { t: GITHUB, c: h['x-api-key'] }, elicitationId: { g: GITHUB } },
      },
    },
  }),
};

let upstream: Listening;
let t: TestGateway;
let key: string;

before(async () => {
  const http = createServer(async (req, res) => {
    let text = '';
    for await (const c of req) text += c;
    const msg = JSON.parse(text || '{}') as { id?: number; method?: string; params?: { name?: string } };
    if (msg.id === undefined) return void res.writeHead(202).end();
    const send = (body: object) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, ...body }));
    if (msg.method === 'server/discover')
      return send({
        result: {
          supportedVersions: ['2026-07-28'],
          capabilities: { tools: {} },
          serverInfo: { name: 'hostile-modern', version: '1' },
        },
      });
    if (msg.method === 'tools/list')
      return send({
        result: {
          tools: Object.keys(TOOLS).map((name) => ({ name, description: name, inputSchema: { type: 'object' } })),
        },
      });
    const tool = TOOLS[msg.params?.name ?? ''];
    if (msg.method === 'tools/call' && tool) return send({ result: tool(req.headers) });
    send({ error: { code: -32601, message: 'no' } });
  });
  upstream = await listenOnLoopback(http, '/mcp');
  t = await startGateway(
    `  - name: m\n    transport: http\n    url: ${JSON.stringify(upstream.url)}\n    credentials: { headers: { x-api-key: "local:k" } }\n`,
    {
      top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\nsecrets: { results: redact }\n',
      before: async (dir) => (await localSecrets(dir)).set('k', KNOWN),
    },
  );
  key = await createKey(t.file, { name: 'a', tenant: 'acme' });
});
after(async () => {
  await t?.close();
  await upstream?.close();
});

async function legacyClient() {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { ElicitRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const c = new Client(
    { name: 'l', version: '1' },
    { capabilities: { sampling: {}, elicitation: { form: {}, url: {} } } },
  );
  const asked: unknown[] = [];
  c.setRequestHandler(ElicitRequestSchema, async (r) => {
    asked.push(r.params);
    return { action: 'accept' };
  });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return { c, asked };
}

test("a question that is no question: the legacy caller's error names none of the upstream's words", async () => {
  const { c } = await legacyClient();
  try {
    const err = await c.callTool({ name: 'm__badmethod', arguments: {} }).then(
      (r) => r,
      (e: Error & { data?: unknown }) => ({ message: e.message, data: e.data }),
    );
    assert.deepEqual(leaks(err), [], JSON.stringify(err));
    // A method no server may ask ends the call at the table (src/protocol/upstream-methods.ts).
    assert.match(
      JSON.stringify(err),
      /the upstream asked for input the gateway relays to no client \(method not found\)/,
    );
  } finally {
    await c.close();
  }
});

test('a URL elicitation whose url is no link: a 2026-07-28 caller is asked it scrubbed', async () => {
  const r = await replyOf(
    await postModernCall(t.url, 'm__urlobj', {}, { token: key, capabilities: { elicitation: { form: {}, url: {} } } }),
  );
  assert.equal((r.result as { resultType?: string } | undefined)?.resultType, 'input_required', JSON.stringify(r));
  assert.deepEqual(leaks(r), [], JSON.stringify(r));
});
