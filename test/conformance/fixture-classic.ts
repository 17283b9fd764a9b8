/**
 * The client-request tools written the way reference servers write them (the conformance repository's
 * everything-server, the TypeScript SDK's conformance server): the handler asks the client with a
 * server-to-client request (`requestSampling`, `elicitInput`) and waits. That works on a 2025-11-25
 * session only: on a 2026-07-28 request the SDK refuses to send it. `fixture-server.ts --tools classic`
 * serves these instead of the input_required ones, so a gateway that talks 2026-07-28 to a dual-era
 * server on behalf of a legacy caller fails these scenarios, as it does with those servers.
 */
import type { McpServer, ServerContext } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { SEP1034, SEP1330, text } from './fixture-tools.ts';

export function addClassicClientRequestTools(s: McpServer): void {
  s.registerTool(
    'test_sampling',
    { description: 'asks the client llm', inputSchema: z.object({ prompt: z.string() }) },
    async ({ prompt }, ctx) => {
      const r = await ctx.mcpReq.requestSampling({
        messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
        maxTokens: 100,
      });
      const c = r.content as { type: string; text?: string };
      return text(`LLM response: ${c.type === 'text' ? c.text : JSON.stringify(c)}`);
    },
  );
  const userSchema = {
    type: 'object',
    properties: {
      username: { type: 'string', description: "User's response" },
      email: { type: 'string', description: "User's email address" },
    },
    required: ['username', 'email'],
  };
  elicit(s, 'test_elicitation', (a) => a.message ?? '', userSchema, 'User response');
  elicit(s, 'test_elicitation_sep1034_defaults', () => 'Please review your profile', SEP1034, 'Elicitation completed');
  elicit(s, 'test_elicitation_sep1330_enums', () => 'Choose options', SEP1330, 'Elicitation completed');
}

function elicit(
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
      const r = await ctx.mcpReq.elicitInput({ message: message(args), requestedSchema } as never);
      return text(`${report}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
    },
  );
}
