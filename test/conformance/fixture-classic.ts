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
import { ELICITATION_TOOLS, samplingAnswer, text } from './fixture-tools.ts';

export function addClassicClientRequestTools(s: McpServer): void {
  s.registerTool(
    'test_sampling',
    { description: 'asks the client llm', inputSchema: z.object({ prompt: z.string() }) },
    async ({ prompt }, ctx) => {
      const r = await ctx.mcpReq.requestSampling({
        messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
        maxTokens: 100,
      });
      return samplingAnswer(r.content as { type: string; text?: string });
    },
  );
  for (const [name, message, schema, report] of ELICITATION_TOOLS) elicit(s, name, message, schema, report);
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
