/**
 * The benchmark's upstream: an MCP server with one tool, `echo`, built with the official SDK v1.
 * HTTP mode (default): Streamable HTTP, one server+transport per session (SSE responses: the SDK's
 * JSON-response mode leaks memory per call), on 127.0.0.1, printing {"url": ...}. `--stdio`: stdio.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function build(): McpServer {
  const s = new McpServer({ name: 'bench-echo', version: '1.0.0' });
  s.registerTool('echo', { description: 'returns its text', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return s;
}

if (process.argv.includes('--stdio')) {
  await build().connect(new StdioServerTransport());
} else {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    const sid = req.headers['mcp-session-id'];
    let t = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!t) {
      if (sid) return void res.writeHead(404).end();
      t = new StreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (id) => void sessions.set(id, t!) });
      t.onclose = () => t?.sessionId && sessions.delete(t.sessionId);
      await build().connect(t);
    }
    await t.handleRequest(req, res);
  });
  http.keepAliveTimeout = 60_000;
  http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = http.address() as { port: number };
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}/mcp` })}\n`);
  });
}
