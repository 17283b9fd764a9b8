/**
 * Our conformance fixture: an MCP server (SDK v1, Streamable HTTP, one server per session) that
 * implements what the conformance suite's server scenarios expect, written from their descriptions.
 * Prints {"url": ...} once listening on 127.0.0.1.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport, type EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { CompleteRequestSchema, CreateMessageResultSchema, ElicitResultSchema, SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });

/** SSE resumability (SEP-1699): every event of a session, replayable after `Last-Event-ID`. */
function memoryEventStore(): EventStore {
  const events: Array<{ id: string; stream: string; message: JSONRPCMessage }> = [];
  return {
    async storeEvent(stream, message) {
      const id = `${stream}_${events.length}`;
      events.push({ id, stream, message });
      return id;
    },
    async getStreamIdForEventId(id) {
      return events.find((e) => e.id === id)?.stream;
    },
    async replayEventsAfter(lastId, { send }) {
      const at = events.findIndex((e) => e.id === lastId);
      if (at < 0) throw new Error(`unknown event id \`${lastId}\``);
      const { stream } = events[at];
      for (const e of events.slice(at + 1)) if (e.stream === stream && Object.keys(e.message).length) await send(e.id, e.message);
      return stream;
    },
  };
}

function build(closeStream: (id: RequestId) => void): McpServer {
  const s = new McpServer({ name: 'gatehouse-conformance-fixture', version: '1.0.0' }, { capabilities: { logging: {}, completions: {}, resources: { subscribe: true } } });
  s.registerTool('test_simple_text', { description: 'simple text' }, async () => text('This is a simple text response for testing.'));
  s.registerTool('test_image_content', { description: 'image' }, async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }));
  s.registerTool('test_audio_content', { description: 'audio' }, async () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }));
  s.registerTool('test_embedded_resource', { description: 'embedded resource' }, async () => ({
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
  }));
  s.registerTool('test_multiple_content_types', { description: 'mixed content' }, async () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' } },
    ],
  }));
  s.registerTool('test_tool_with_logging', { description: 'logs while running' , inputSchema: {} }, async (_a, extra) => {
    for (const [i, data] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
      if (i) await sleep(50);
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
    }
    return text('Tool with logging executed successfully');
  });
  // SEP-1699 polling: one event (so the client holds a Last-Event-ID), then the POST stream closes
  // mid-call and the result arrives on the client's GET reconnection (replayed from the event store).
  s.registerTool('test_reconnection', { description: 'closes its SSE stream mid-call', inputSchema: {} }, async (_a, extra) => {
    await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: 'closing the stream; reconnect to get the result' } });
    (extra.closeSSEStream ?? (() => closeStream(extra.requestId)))();
    await sleep(200);
    return text('Reconnection test completed');
  });
  s.registerTool('test_error_handling', { description: 'always fails' }, async () => ({ isError: true, ...text('This tool intentionally returns an error for testing') }));
  s.registerTool('test_tool_with_progress', { description: 'reports progress' , inputSchema: {} }, async (_a, extra) => {
    const token = extra._meta?.progressToken;
    for (const [i, progress] of [0, 50, 100].entries()) {
      if (i) await sleep(50);
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100 } });
    }
    return text('Tool with progress executed successfully');
  });
  s.registerTool('test_sampling', { description: 'asks the client llm', inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
    const r = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 } }, CreateMessageResultSchema);
    const c = r.content as { type: string; text?: string };
    return text(`LLM response: ${c.type === 'text' ? c.text : JSON.stringify(c)}`);
  });
  s.registerTool('test_elicitation', { description: 'asks the user', inputSchema: { message: z.string() } }, async ({ message }, extra) => {
    const r = await extra.sendRequest({
      method: 'elicitation/create',
      params: {
        message,
        requestedSchema: {
          type: 'object',
          properties: { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
          required: ['username', 'email'],
        },
      },
    }, ElicitResultSchema);
    return text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
  });
  s.registerTool('test_elicitation_sep1034_defaults', { description: 'elicitation with defaults' , inputSchema: {} }, async (_a, extra) => {
    const r = await extra.sendRequest({
      method: 'elicitation/create',
      params: {
        message: 'Please review your profile',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', default: 'John Doe' },
            age: { type: 'integer', default: 30 },
            score: { type: 'number', default: 95.5 },
            status: { type: 'string', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', default: true },
          },
        },
      },
    }, ElicitResultSchema);
    return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
  });
  s.registerTool('test_elicitation_sep1330_enums', { description: 'elicitation with enums' , inputSchema: {} }, async (_a, extra) => {
    const r = await extra.sendRequest({
      method: 'elicitation/create',
      params: {
        message: 'Choose options',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            titledSingle: { type: 'string', oneOf: [{ const: 'value1', title: 'First Option' }, { const: 'value2', title: 'Second Option' }, { const: 'value3', title: 'Third Option' }] },
            legacyEnum: { type: 'string', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
            untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
            titledMulti: { type: 'array', items: { anyOf: [{ const: 'value1', title: 'First Choice' }, { const: 'value2', title: 'Second Choice' }, { const: 'value3', title: 'Third Choice' }] } },
          },
        },
      },
    } as never, ElicitResultSchema);
    return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
  });
  s.registerResource('static-text', 'test://static-text', { description: 'static text', mimeType: 'text/plain' }, async () => ({
    contents: [{ uri: 'test://static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
  }));
  s.registerResource('static-binary', 'test://static-binary', { description: 'static binary', mimeType: 'image/png' }, async () => ({
    contents: [{ uri: 'test://static-binary', mimeType: 'image/png', blob: PNG }],
  }));
  s.registerResource('watched', 'test://watched-resource', { description: 'a resource to subscribe to', mimeType: 'text/plain' }, async () => ({
    contents: [{ uri: 'test://watched-resource', mimeType: 'text/plain', text: 'watched' }],
  }));
  s.registerResource('template', new ResourceTemplate('test://template/{id}/data', { list: undefined }), { description: 'template', mimeType: 'application/json' }, async (uri, { id }) => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }],
  }));
  s.registerPrompt('test_simple_prompt', { description: 'simple prompt' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
  }));
  s.registerPrompt('test_prompt_with_arguments', { description: 'prompt with arguments', argsSchema: { arg1: z.string(), arg2: z.string() } }, async ({ arg1, arg2 }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
  }));
  s.registerPrompt('test_prompt_with_embedded_resource', { description: 'prompt with a resource', argsSchema: { resourceUri: z.string() } }, async ({ resourceUri }) => ({
    messages: [
      { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
      { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
    ],
  }));
  s.registerPrompt('test_prompt_with_image', { description: 'prompt with an image' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));
  // Diagnostic tools the 2026-07-28 requirements call. This fixture speaks 2025-11-25; through the
  // gateway they exercise its bridging: sampling/elicitation become input_required or -32021, logs are
  // filtered by the caller's logLevel, list changes reach subscriptions/listen streams.
  s.registerTool('test_missing_capability', { description: 'needs sampling from the client', inputSchema: {} }, async (_a, extra) => {
    const r = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 10 } }, CreateMessageResultSchema);
    return text(`sampled: ${JSON.stringify(r.content)}`);
  });
  s.registerTool('test_logging_tool', { description: 'logs at info', inputSchema: {} }, async (_a, extra) => {
    for (const data of ['one', 'two', 'three']) await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
    return text('logged');
  });
  s.registerTool('test_streaming_elicitation', { description: 'asks the user mid-call', inputSchema: {} }, async (_a, extra) => {
    const r = await extra.sendRequest({ method: 'elicitation/create', params: { message: 'Continue?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } } } } }, ElicitResultSchema);
    return text(`answer: ${r.action}`);
  });
  let added = 0;
  s.registerTool('test_trigger_tool_change', { description: 'adds a tool (tools/list_changed)', inputSchema: {} }, async () => {
    s.registerTool(`dynamic_tool_${++added}`, { description: 'added at run time' }, async () => text('dynamic'));
    return text('tool list changed');
  });
  s.registerTool('test_trigger_prompt_change', { description: 'adds a prompt (prompts/list_changed)', inputSchema: {} }, async () => {
    s.registerPrompt(`dynamic_prompt_${++added}`, { description: 'added at run time' }, async () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'dynamic' } }] }));
    return text('prompt list changed');
  });
  s.server.setRequestHandler(CompleteRequestSchema, async (req) => ({
    completion: { values: ['paris', 'park', 'party'].filter((v) => v.startsWith(req.params.argument.value)), total: 3, hasMore: false },
  }));
  s.server.setRequestHandler(SubscribeRequestSchema, async () => ({}));
  s.server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
  return s;
}

/** Adds the tools whose schemas must be listed exactly as written (JSON Schema 2020-12, x-mcp-header). */
function addRawTools(s: McpServer): void {
  const raw = s.server as unknown as { _requestHandlers: Map<string, (req: unknown, extra: unknown) => Promise<{ tools: unknown[] }>> };
  const list = raw._requestHandlers.get('tools/list')!;
  const call = raw._requestHandlers.get('tools/call')! as unknown as (req: { params: { name: string; arguments?: unknown } }, extra: unknown) => Promise<unknown>;
  raw._requestHandlers.set('tools/call', (async (req: { params: { name: string; arguments?: unknown } }, extra: unknown) =>
    req.params.name === 'test_custom_headers' ? text(`headers ok: ${JSON.stringify(req.params.arguments ?? {})}`) : call(req, extra)) as never);
  raw._requestHandlers.set('tools/list', async (req, extra) => {
    const r = await list(req, extra);
    r.tools.push({
      name: 'test_custom_headers',
      description: 'parameters mirrored into Mcp-Param headers (x-mcp-header)',
      inputSchema: {
        type: 'object',
        properties: {
          region: { type: 'string', 'x-mcp-header': 'Region' },
          priority: { type: 'integer', 'x-mcp-header': 'Priority' },
          verbose: { type: 'boolean', 'x-mcp-header': 'Verbose' },
          query: { type: 'string' },
        },
        required: ['region', 'query'],
      },
    });
    r.tools.push({
      name: 'json_schema_2020_12_tool',
      description: 'Tool with JSON Schema 2020-12 features',
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: { address: { $anchor: 'address', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
        properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' }, contactMethod: { type: 'string', enum: ['phone', 'email'] }, phone: { type: 'string' }, email: { type: 'string' } },
        allOf: [{ required: ['name'] }],
        anyOf: [{ required: ['phone'] }, { required: ['email'] }],
        if: { properties: { contactMethod: { const: 'phone' } } },
        then: { required: ['phone'] },
        else: { required: ['email'] },
        additionalProperties: false,
      },
    });
    return r;
  });
}

const sessions = new Map<string, StreamableHTTPServerTransport>();
const http = createServer(async (req, res) => {
  const host = req.headers.host ?? '';
  if (!/^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host)) return void res.writeHead(403).end();
  const sid = req.headers['mcp-session-id'];
  let t = typeof sid === 'string' ? sessions.get(sid) : undefined;
  if (!t) {
    if (sid) return void res.writeHead(404).end();
    if (req.method !== 'POST') return void res.writeHead(400).end();
    const created = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => void sessions.set(id, created),
      eventStore: memoryEventStore(),
      retryInterval: 500,
    });
    t = created;
    t.onclose = () => created.sessionId && sessions.delete(created.sessionId);
    const s = build((id) => created.closeSSEStream(id));
    await s.connect(t);
    addRawTools(s);
  }
  await t.handleRequest(req, res);
});
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = http.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}/mcp` })}\n`);
});
