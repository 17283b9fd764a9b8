/**
 * Arguments that do not match a tool's input schema are a tool execution error in MCP's terms
 * (server/tools.mdx, Error Handling: "Input validation errors" are "reported in tool results with
 * `isError: true`", so a model can correct itself). The validate stage refuses the call as before —
 * recorded as refused at validate, nothing sent upstream — and the caller is told as a tool result
 * naming every problem with its path. Where no such result can be given (a 2025-11-25 task-augmented
 * call expects a CreateTaskResult, and no task was created) it stays the -32602 error, with the same
 * problems. Everything else about a request's shape (unknown tool, `arguments` not an object, a lone
 * surrogate, past the global bounds) is a protocol error, -32602, as the spec's "malformed requests".
 * Pure.
 */
import { GatehouseError, quote } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { MAX_PROBLEMS, type ArgumentProblem } from '../policy/arguments.ts';

const lineOf = (p: ArgumentProblem): string => `\`${p.path}\` ${p.message}`;

function summary(tool: string, problems: ArgumentProblem[]): string {
  const more = problems.length >= MAX_PROBLEMS ? ` (the first ${MAX_PROBLEMS} problems)` : '';
  return `the arguments do not match the input schema of ${quote(tool)}${more}`;
}

/** The refusal of a call to `tool` whose arguments have `problems`: each named with its path. */
export function argumentRefusal(tool: string, problems: ArgumentProblem[]): GatehouseError {
  return new GatehouseError(
    'E_INVALID_ARGUMENTS',
    `invalid params: ${summary(tool, problems)}: ${problems.map(lineOf).join('; ')}`,
    { problems },
  );
}

/**
 * The tool result a `tools/call` refused for its arguments is answered with, or undefined when `err`
 * is no such refusal or the call asked for a task (2025-11-25 `params.task`).
 */
export function toolErrorResult(err: unknown, method: string, params: JsonObject, era: string): JsonObject | undefined {
  if (!(err instanceof GatehouseError) || err.code !== 'E_INVALID_ARGUMENTS' || method !== 'tools/call')
    return undefined;
  const task = params.task;
  if (era === 'legacy' && task && typeof task === 'object') return undefined;
  const problems = (err.data as { problems: ArgumentProblem[] }).problems;
  const lines = problems.map((p) => `- ${lineOf(p)}`).join('\n');
  const text = `${summary(String(params.name), problems)}; nothing was sent to the server. Correct these and call again:\n${lines}`;
  return { content: [{ type: 'text', text }], isError: true };
}
