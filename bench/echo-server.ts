/**
 * The benchmark's upstream: an MCP server with a tool, `echo`, that returns its `text` argument,
 * built with the official SDK v1 (legacy 2025-11-25 era); with `--tools N`, N - 1 more tools
 * (`tool_001`...) with a description and a schema each, so that listings have a realistic size.
 *   node bench/echo-server.ts [--port N] [--tools N]   Streamable HTTP on 127.0.0.1 (port 0 = any free
 *                                          port), printing {"url": ...} as one JSON line once listening
 *   node bench/echo-server.ts --stdio [--tools N]      the same server over stdin/stdout
 * HTTP mode is stateful with one McpServer per session and answers with SSE: the SDK's JSON-response
 * mode (`enableJsonResponse: true`) keeps memory per call forever (SDK issue 2559).
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const { values: opts } = parseArgs({
  options: {
    stdio: { type: 'boolean' },
    port: { type: 'string', default: '0' },
    tools: { type: 'string', default: '1' },
  },
});
const TOOLS = Number(opts.tools);

function echoServer(): McpServer {
  const server = new McpServer({ name: 'bench-echo', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'returns its text argument', inputSchema: { text: z.string() } },
    async ({ text }) => ({
      content: [{ type: 'text', text }],
    }),
  );
  for (let i = 1; i < TOOLS; i++) {
    const name = `tool_${String(i).padStart(3, '0')}`;
    server.registerTool(
      name,
      {
        description: `${name}: reads one record of the bench's inventory by its id and returns it as text`,
        inputSchema: { id: z.string().max(64), verbose: z.boolean().optional() },
        annotations: { readOnlyHint: true },
      },
      async ({ id }) => ({ content: [{ type: 'text', text: id }] }),
    );
  }
  return server;
}

async function serveHttp(port: number): Promise<void> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    try {
      const sid = req.headers['mcp-session-id'];
      let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (!transport) {
        if (sid !== undefined) return void res.writeHead(404).end();
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          onsessioninitialized: (id) => void sessions.set(id, created),
        });
        created.onclose = () => {
          if (created.sessionId) sessions.delete(created.sessionId);
        };
        await echoServer().connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String((err as Error).message));
    }
  });
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const address = http.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}/mcp` })}\n`);
}

if (opts.stdio) await echoServer().connect(new StdioServerTransport());
else await serveHttp(Number(opts.port));
