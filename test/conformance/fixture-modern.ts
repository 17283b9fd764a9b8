/**
 * The conformance fixture's 2026-07-28 surface, from the prerelease suite's scenario descriptions:
 * multi-round-trip tools and prompt (`test_input_required_result_*`, SEP-2322) with HMAC-protected
 * requestState, the server-stateless diagnostics (`test_missing_capability`, `test_logging_tool`,
 * `test_streaming_elicitation`, `test_trigger_*_change`) and a tool with `x-mcp-header` parameters
 * (SEP-2243). Multi-round-trip handlers also serve 2025-11-25 sessions: the SDK's legacy shim turns
 * their input requests into real server-to-client requests.
 */
import {
  acceptedContent,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
} from '@modelcontextprotocol/server';
import type { McpServer, ServerContext } from '@modelcontextprotocol/server';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { text } from './fixture-tools.ts';

/** Seals requestState (HMAC, per process); its `verify` is the server's requestState hook. */
export const stateCodec = createRequestStateCodec<{ tool: string; round: number }>({ key: randomBytes(32) });

const empty = z.object({});
/** A form asking for one field of `type`, required unless `optional`. */
const form = <T extends 'string' | 'boolean'>(field: string, type: T, optional = false) => ({
  type: 'object' as const,
  properties: { [field]: { type } },
  required: optional ? [] : [field],
});
const askName = (message: string) => inputRequired.elicit({ message, requestedSchema: form('name', 'string') });
const greeting = (prompt: string, maxTokens: number) =>
  inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens });
const state = (ctx: ServerContext) => ctx.mcpReq.requestState<{ tool: string; round: number }>();

export interface ChangeHooks {
  toolsChanged(): void;
  promptsChanged(): void;
}

export function addInputRequiredTools(s: McpServer): void {
  s.registerTool(
    'test_input_required_result_elicitation',
    { description: 'asks for a name (one round)', inputSchema: empty },
    async (_a, ctx) => {
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'user_name');
      if (typeof answer?.name !== 'string')
        return inputRequired({ inputRequests: { user_name: askName('What is your name?') } });
      return text(`Hello, ${answer.name}!`);
    },
  );
  s.registerTool(
    'test_input_required_result_sampling',
    { description: 'asks the client llm (one round)', inputSchema: empty },
    async (_a, ctx) => {
      const r = inputResponse(ctx.mcpReq.inputResponses, 'capital_question');
      if (r.kind !== 'sampling')
        return inputRequired({ inputRequests: { capital_question: greeting('What is the capital of France?', 100) } });
      const c = r.result.content as { type: string; text?: string };
      return text(`LLM response: ${c.type === 'text' ? c.text : JSON.stringify(c)}`);
    },
  );
  s.registerTool(
    'test_input_required_result_list_roots',
    { description: 'asks for the client roots (one round)', inputSchema: empty },
    async (_a, ctx) => {
      const r = inputResponse(ctx.mcpReq.inputResponses, 'client_roots');
      if (r.kind !== 'roots') return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
      return text(`roots: ${r.roots.map((root) => root.uri).join(', ')}`);
    },
  );
  s.registerTool(
    'test_input_required_result_request_state',
    { description: 'round-trips sealed requestState', inputSchema: empty },
    async (_a, ctx) => {
      const ok = acceptedContent(ctx.mcpReq.inputResponses, 'confirm');
      if (state(ctx)?.tool !== 'request_state' || ok === undefined) {
        const confirm = inputRequired.elicit({ message: 'Please confirm', requestedSchema: form('ok', 'boolean') });
        return inputRequired({
          inputRequests: { confirm },
          requestState: await stateCodec.mint({ tool: 'request_state', round: 1 }),
        });
      }
      return text(`state-ok: confirmed=${String(ok.ok)}`);
    },
  );
  s.registerTool(
    'test_input_required_result_tampered_state',
    { description: 'rejects altered requestState', inputSchema: empty },
    async (_a, ctx) => {
      if (state(ctx)?.tool !== 'tampered_state') {
        const confirm = inputRequired.elicit({ message: 'Please confirm', requestedSchema: form('ok', 'boolean') });
        return inputRequired({
          inputRequests: { confirm },
          requestState: await stateCodec.mint({ tool: 'tampered_state', round: 1 }),
        });
      }
      return text('state verified');
    },
  );
  s.registerTool(
    'test_input_required_result_multiple_inputs',
    { description: 'asks for three inputs at once', inputSchema: empty },
    async (_a, ctx) => {
      const responses = ctx.mcpReq.inputResponses;
      const name = acceptedContent(responses, 'user_name');
      const sampled = inputResponse(responses, 'greeting');
      const roots = inputResponse(responses, 'client_roots');
      if (
        state(ctx)?.tool !== 'multiple_inputs' ||
        typeof name?.name !== 'string' ||
        sampled.kind !== 'sampling' ||
        roots.kind !== 'roots'
      ) {
        return inputRequired({
          inputRequests: {
            user_name: askName('What is your name?'),
            greeting: greeting('Generate a greeting', 50),
            client_roots: inputRequired.listRoots(),
          },
          requestState: await stateCodec.mint({ tool: 'multiple_inputs', round: 1 }),
        });
      }
      return text(`Hello, ${name.name}! (${roots.roots.length} root(s))`);
    },
  );
  s.registerTool(
    'test_input_required_result_multi_round',
    { description: 'asks twice, state evolving', inputSchema: empty },
    async (_a, ctx) => {
      const round = state(ctx)?.tool === 'multi_round' ? state(ctx)!.round : 0;
      const name = acceptedContent(ctx.mcpReq.inputResponses, 'step1');
      const color = acceptedContent(ctx.mcpReq.inputResponses, 'step2');
      if (round === 2 && typeof color?.color === 'string') return text(`favorite color: ${color.color}`);
      if (round === 1 && typeof name?.name === 'string') {
        const step2 = inputRequired.elicit({
          message: 'Step 2: What is your favorite color?',
          requestedSchema: form('color', 'string'),
        });
        return inputRequired({
          inputRequests: { step2 },
          requestState: await stateCodec.mint({ tool: 'multi_round', round: 2 }),
        });
      }
      return inputRequired({
        inputRequests: { step1: askName('Step 1: What is your name?') },
        requestState: await stateCodec.mint({ tool: 'multi_round', round: 1 }),
      });
    },
  );
  s.registerTool(
    'test_input_required_result_capabilities',
    { description: 'asks only for what the client declared', inputSchema: empty },
    async (_a, ctx) => {
      const envelope = (ctx.mcpReq.envelope ?? {}) as Record<string, Record<string, unknown> | undefined>;
      const caps = envelope['io.modelcontextprotocol/clientCapabilities'] ?? {};
      const requests = {
        ...(caps.sampling ? { greeting: greeting('Generate a greeting', 50) } : {}),
        ...(caps.elicitation ? { user_name: askName('What is your name?') } : {}),
        ...(caps.roots ? { client_roots: inputRequired.listRoots() } : {}),
      };
      if (!Object.keys(requests).length) return text('the client declared no capability to ask with');
      if (ctx.mcpReq.inputResponses && Object.keys(ctx.mcpReq.inputResponses).length) return text('thanks');
      return inputRequired({ inputRequests: requests });
    },
  );
  s.registerPrompt(
    'test_input_required_result_prompt',
    { description: 'a prompt that asks for context first' },
    async (ctx) => {
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'user_context');
      if (typeof answer?.context !== 'string') {
        const ask = inputRequired.elicit({
          message: 'What context should the prompt use?',
          requestedSchema: form('context', 'string'),
        });
        return inputRequired({ inputRequests: { user_context: ask } });
      }
      return {
        messages: [{ role: 'user', content: { type: 'text', text: `Answer with this context: ${answer.context}` } }],
      };
    },
  );
}

export function addDiagnosticTools(s: McpServer, hooks: ChangeHooks): void {
  s.registerTool(
    'test_missing_capability',
    { description: 'needs sampling from the client', inputSchema: empty },
    async (_a, ctx) => {
      const r = inputResponse(ctx.mcpReq.inputResponses, 'sample');
      if (r.kind !== 'sampling') return inputRequired({ inputRequests: { sample: greeting('hi', 10) } });
      return text('sampled');
    },
  );
  s.registerTool(
    'test_streaming_elicitation',
    { description: 'asks the user mid-call', inputSchema: empty },
    async (_a, ctx) => {
      const ok = acceptedContent(ctx.mcpReq.inputResponses, 'continue');
      if (ok === undefined)
        return inputRequired({
          inputRequests: {
            continue: inputRequired.elicit({ message: 'Continue?', requestedSchema: form('ok', 'boolean', true) }),
          },
        });
      return text('continued');
    },
  );
  s.registerTool(
    'test_logging_tool',
    { description: 'logs at info (only when the caller asked for logs)', inputSchema: empty },
    async (_a, ctx) => {
      for (const data of ['one', 'two', 'three']) await ctx.mcpReq.log('info', data, 'fixture');
      return text('logged');
    },
  );
  s.registerTool(
    'test_trigger_tool_change',
    { description: 'announces a tools/list change', inputSchema: empty },
    async () => {
      hooks.toolsChanged();
      return text('tool list changed');
    },
  );
  s.registerTool(
    'test_trigger_prompt_change',
    { description: 'announces a prompts/list change', inputSchema: empty },
    async () => {
      hooks.promptsChanged();
      return text('prompt list changed');
    },
  );
  s.registerTool(
    'test_custom_headers',
    {
      description: 'parameters mirrored into Mcp-Param headers (x-mcp-header)',
      inputSchema: fromJsonSchema(CUSTOM_HEADERS),
    },
    async (args) => text(`headers ok: ${JSON.stringify(args)}`),
  );
}

const CUSTOM_HEADERS = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    priority: { type: 'integer', 'x-mcp-header': 'Priority' },
    verbose: { type: 'boolean', 'x-mcp-header': 'Verbose' },
    query: { type: 'string' },
  },
  required: ['region', 'query'],
} as const;
