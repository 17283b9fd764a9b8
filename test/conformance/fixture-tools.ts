/**
 * The conformance fixture's surface that both protocol eras share: the tools, resources, prompts and
 * completions the suite's server scenarios call by name (`test_simple_text`, `test://static-text`,
 * `test_prompt_with_arguments`, ...), written from the scenarios' descriptions. The 2026-07-28-only
 * surface (multi-round-trip tools, diagnostics, header tools) is in fixture-modern.ts.
 */
import {
  McpServer,
  ResourceTemplate,
  fromJsonSchema,
  inputRequired,
  inputResponse,
} from '@modelcontextprotocol/server';
import type { CallToolResult, ServerContext, ServerOptions } from '@modelcontextprotocol/server';
import { z } from 'zod';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * JSON Schema's `then` keyword, spelled through a constant: an object literal with a `then` member
 * looks like a thenable to whoever awaits it, and to the linter.
 */
const THEN = 'then';
export const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const empty = z.object({});

export function createFixtureServer(options: ServerOptions = {}): McpServer {
  return new McpServer(
    { name: 'gatehouse-conformance-fixture', version: '1.0.0' },
    {
      ...options,
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
}

export function addContentTools(s: McpServer): void {
  s.registerTool('test_simple_text', { description: 'simple text' }, async () =>
    text('This is a simple text response for testing.'),
  );
  s.registerTool('test_image_content', { description: 'image' }, async () => ({
    content: [{ type: 'image', data: PNG, mimeType: 'image/png' }],
  }));
  s.registerTool('test_audio_content', { description: 'audio' }, async () => ({
    content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }],
  }));
  s.registerTool('test_embedded_resource', { description: 'embedded resource' }, async () => ({
    content: [
      {
        type: 'resource',
        resource: {
          uri: 'test://embedded-resource',
          mimeType: 'text/plain',
          text: 'This is an embedded resource content.',
        },
      },
    ],
  }));
  s.registerTool('test_multiple_content_types', { description: 'mixed content' }, async () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      {
        type: 'resource',
        resource: {
          uri: 'test://mixed-content-resource',
          mimeType: 'application/json',
          text: '{"test":"data","value":123}',
        },
      },
    ],
  }));
  s.registerTool('test_error_handling', { description: 'always fails' }, async () => ({
    isError: true,
    ...text('This tool intentionally returns an error for testing'),
  }));
  s.registerTool(
    'test_tool_with_logging',
    { description: 'logs while running', inputSchema: empty },
    async (_a, ctx) => {
      for (const [i, data] of [
        'Tool execution started',
        'Tool processing data',
        'Tool execution completed',
      ].entries()) {
        if (i) await sleep(50);
        await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', data } });
      }
      return text('Tool with logging executed successfully');
    },
  );
  s.registerTool(
    'test_tool_with_progress',
    { description: 'reports progress', inputSchema: empty },
    async (_a, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      for (const [i, progress] of [0, 50, 100].entries()) {
        if (i) await sleep(50);
        if (token !== undefined)
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total: 100 },
          });
      }
      return text('Tool with progress executed successfully');
    },
  );
  s.registerTool(
    'json_schema_2020_12_tool',
    { description: 'Tool with JSON Schema 2020-12 features', inputSchema: fromJsonSchema(SCHEMA_2020_12) },
    async (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
  );
}

/** The schema the json-schema-2020-12 scenario expects listed keyword for keyword (SEP-1613, SEP-2106). */
const SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  [THEN]: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
} as const;

const SEP1034 = {
  type: 'object',
  properties: {
    name: { type: 'string', default: 'John Doe' },
    age: { type: 'integer', default: 30 },
    score: { type: 'number', default: 95.5 },
    status: { type: 'string', enum: ['active', 'inactive', 'pending'], default: 'active' },
    verified: { type: 'boolean', default: true },
  },
};
const SEP1330 = {
  type: 'object',
  properties: {
    untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: {
      type: 'string',
      enum: ['opt1', 'opt2', 'opt3'],
      enumNames: ['Option One', 'Option Two', 'Option Three'],
    },
    untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
    titledMulti: {
      type: 'array',
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
};

/** What test_sampling answers, given the client's LLM response `c`. */
export const samplingAnswer = (c: { type: string; text?: string }): CallToolResult =>
  text(`LLM response: ${c.type === 'text' ? c.text : JSON.stringify(c)}`);

/** The elicitation tools the scenarios call: name, the message asked, the schema asked for, what the answer reports. */
export const ELICITATION_TOOLS: ReadonlyArray<
  readonly [name: string, message: (args: { message?: string }) => string, schema: object, report: string]
> = [
  [
    'test_elicitation',
    (a) => a.message ?? '',
    {
      type: 'object',
      properties: {
        username: { type: 'string', description: "User's response" },
        email: { type: 'string', description: "User's email address" },
      },
      required: ['username', 'email'],
    },
    'User response',
  ],
  ['test_elicitation_sep1034_defaults', () => 'Please review your profile', SEP1034, 'Elicitation completed'],
  ['test_elicitation_sep1330_enums', () => 'Choose options', SEP1330, 'Elicitation completed'],
];

/** An elicitation tool: asks once (input_required), then reports the answer. */
function elicitationTool(
  s: McpServer,
  name: string,
  message: (args: { message?: string }) => string,
  requestedSchema: object,
  report: string,
): void {
  const inputSchema = z.object({ message: name === 'test_elicitation' ? z.string() : z.string().optional() });
  s.registerTool(
    name,
    { description: `asks the user (${name})`, inputSchema },
    async (args: { message?: string }, ctx: ServerContext) => {
      const r = inputResponse(ctx.mcpReq.inputResponses, 'answer');
      if (r.kind !== 'elicit')
        return inputRequired({
          inputRequests: { answer: inputRequired.elicit({ message: message(args), requestedSchema } as never) },
        });
      return text(`${report}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
    },
  );
}

/**
 * Tools that ask the client mid-call. They return input_required (2026-07-28 multi round-trip); on a
 * 2025-11-25 session the SDK's legacy shim sends the same requests as server-to-client requests.
 */
export function addClientRequestTools(
  s: McpServer,
  closeSse: (ctx: ServerContext) => void,
  opts: { askers?: boolean } = {},
): void {
  if (opts.askers !== false) addAskers(s);
  s.registerTool(
    'test_reconnection',
    {
      description: 'closes its SSE stream mid-call; the result arrives after the client reconnects',
      inputSchema: empty,
    },
    async (_a, ctx) => {
      closeSse(ctx);
      await sleep(100);
      return text('Reconnection test completed successfully');
    },
  );
}

function addAskers(s: McpServer): void {
  s.registerTool(
    'test_sampling',
    { description: 'asks the client llm', inputSchema: z.object({ prompt: z.string() }) },
    async ({ prompt }, ctx) => {
      const r = inputResponse(ctx.mcpReq.inputResponses, 'llm');
      if (r.kind !== 'sampling') {
        return inputRequired({
          inputRequests: {
            llm: inputRequired.createMessage({
              messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
              maxTokens: 100,
            }),
          },
        });
      }
      return samplingAnswer(r.result.content as { type: string; text?: string });
    },
  );
  for (const [name, message, schema, report] of ELICITATION_TOOLS) elicitationTool(s, name, message, schema, report);
}

export function addResources(s: McpServer): void {
  s.registerResource(
    'static-text',
    'test://static-text',
    { description: 'static text', mimeType: 'text/plain' },
    async () => ({
      contents: [
        { uri: 'test://static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
      ],
    }),
  );
  s.registerResource(
    'static-binary',
    'test://static-binary',
    { description: 'static binary', mimeType: 'image/png' },
    async () => ({
      contents: [{ uri: 'test://static-binary', mimeType: 'image/png', blob: PNG }],
    }),
  );
  s.registerResource(
    'watched',
    'test://watched-resource',
    { description: 'a resource to subscribe to', mimeType: 'text/plain' },
    async () => ({
      contents: [{ uri: 'test://watched-resource', mimeType: 'text/plain', text: 'watched' }],
    }),
  );
  s.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'template', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    }),
  );
}

export function addPrompts(s: McpServer): void {
  s.registerPrompt('test_simple_prompt', { description: 'simple prompt' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
  }));
  s.registerPrompt(
    'test_prompt_with_arguments',
    { description: 'prompt with arguments', argsSchema: z.object({ arg1: z.string(), arg2: z.string() }) },
    async ({ arg1, arg2 }) => ({
      messages: [
        { role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } },
      ],
    }),
  );
  s.registerPrompt(
    'test_prompt_with_embedded_resource',
    { description: 'prompt with a resource', argsSchema: z.object({ resourceUri: z.string() }) },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  s.registerPrompt('test_prompt_with_image', { description: 'prompt with an image' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));
}

/** completion/complete, resources/(un)subscribe: handlers the scenarios call directly. */
export function addHandlers(s: McpServer): void {
  s.server.setRequestHandler('completion/complete', async (req) => ({
    completion: {
      values: ['paris', 'park', 'party'].filter((v) => v.startsWith(req.params.argument.value)),
      total: 3,
      hasMore: false,
    },
  }));
  s.server.setRequestHandler('resources/subscribe', async () => ({}));
  s.server.setRequestHandler('resources/unsubscribe', async () => ({}));
}
