/**
 * The session routing of a 2025-11-25 MCP server over Streamable HTTP, as the SDK v1 wants it written:
 * a request naming a known session goes to its transport; any other makes a new transport and a new
 * server (`build()`), kept by the session id the SDK gives it until it closes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** A request handler for servers made by `build`, one per session; `body` when the caller already read it. */
export function sdkSessions(
  build: () => McpServer,
): (req: IncomingMessage, res: ServerResponse, body?: unknown) => Promise<void> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  return async (req, res, body) => {
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!transport) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => void sessions.set(id, created),
      });
      created.onclose = () => void (created.sessionId && sessions.delete(created.sessionId));
      await build().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  };
}
