/**
 * validate: what the caller sent is untrusted, and what goes upstream is exactly what policy will
 * judge. Per kind:
 * - tool: arguments a JSON object (or absent) within the global bounds (-32602 naming the path
 *   otherwise), matching the tool's input schema from the inventory (otherwise refused with every
 *   problem and its path, which the caller gets as a tool result with isError: argument-problems.ts); then the target resources are
 *   extracted and canonicalised, a URL is forwarded in its canonical form, and a path on a local
 *   server is judged (and forwarded) as the real path behind any symlink;
 * - prompt: arguments an object of strings within bounds;
 * - resource: the URI made canonical by route (src/pipeline/resource-uri.ts, so every stage saw that
 *   form) is what policy judges; one that has no canonical form is refused here, after visibility.
 * Before any of them, for every kind: no lone UTF-16 surrogate anywhere in the params.
 */
import { GatehouseError } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import { checkBounds } from '../../policy/arguments.ts';
import { canonicalPath, realPathOf } from '../../policy/canonical.ts';
import { extractResources, extractionFor } from '../../policy/resources.ts';
import type { CallState, PipelineDeps, Stage } from '../types.ts';
import { routeOf } from './needs.ts';
import { localServer } from '../resource-uri.ts';
import { loneSurrogateAt, pathText } from '../../util/well-formed.ts';
import { argumentRefusal } from '../argument-problems.ts';

const MAX_PROMPT_ARG = 64 * 1024;

function invalid(message: string, path?: string): GatehouseError {
  return new GatehouseError(
    'E_INVALID_PARAMS',
    `invalid params: ${message}`,
    path === undefined ? undefined : { path },
  );
}

/**
 * Arguments past the global bounds are refused, and marked so for the audit: its record of the
 * refusal keeps their hash and size, not a copy of what was too large to accept.
 */
function outOfBounds(s: CallState, message: string, path: string): GatehouseError {
  s.outOfBounds = message;
  return invalid(message, path);
}

async function validateTool(s: CallState, deps: PipelineDeps): Promise<void> {
  const args = s.params.arguments;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args)))
    throw invalid('`arguments` must be an object');
  const route = routeOf(s);
  const bound = checkBounds(args);
  if (bound) throw outOfBounds(s, `\`${bound.path}\` ${bound.message}`, bound.path);
  const problems = deps.validators.problems(s.toolPin ?? '', route.def.inputSchema, args);
  // A schema the gateway cannot use is no fault of the arguments: the caller cannot correct it.
  if (problems[0]?.path === '(schema)') throw invalid(`\`(schema)\` ${problems[0].message}`, '(schema)');
  // Every problem, each with its path: a tool result with isError (dispatch, argument-problems.ts).
  if (problems.length) throw argumentRefusal(s.requested, problems);
  if (!deps.policy) return;
  const x = extractResources(deps.policy.resources, route.qualified, args ?? {});
  if (!x.ok)
    throw new GatehouseError(
      'E_POLICY_DENIED',
      `denied by policy (\`resource:refused\`): ${x.reason}${x.path ? ` (at \`${x.path}\`)` : ''}`.slice(0, 1000),
      { rule: 'resource:refused' },
    );
  const forwarded: JsonObject = { ...((args ?? {}) as JsonObject) };
  // One extracted resource per spec of the rule, in order: a spec's `root` holds for the real path too.
  const specs = extractionFor(deps.policy.resources, route.qualified)?.resources ?? [];
  s.resources = [];
  for (const [i, r] of x.resources.entries()) {
    let value = r.value;
    if (r.kind === 'path' && r.args.length === 1 && localServer(deps, route.server)) {
      const real = await realPathOf(value);
      const root = specs[i]?.root;
      // A refusal names the path as given and the root as configured, never where a link points.
      const shown = { path: value, ...(root === undefined ? {} : { root }) };
      const c = canonicalPath(real, root === undefined ? undefined : await realPathOf(root), 'path', shown);
      if (!c.ok)
        throw new GatehouseError('E_POLICY_DENIED', `denied by policy (\`resource:refused\`): ${c.reason}`, {
          rule: 'resource:refused',
        });
      value = c.value;
    }
    // Exactly the canonical value policy judges goes upstream (one argument holding the whole value).
    if (value !== r.raw && r.args.length === 1) forwarded[r.args[0]] = value;
    s.resources.push({ kind: r.kind, value });
  }
  s.upstream = { ...s.upstream, arguments: forwarded };
}

function validatePrompt(s: CallState): void {
  const args = s.params.arguments;
  if (args === undefined) return;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw invalid('`arguments` must be an object');
  let total = 0;
  for (const [k, v] of Object.entries(args)) {
    if (typeof v !== 'string') throw invalid(`\`arguments.${k}\` must be a string`, `arguments.${k}`);
    total += k.length + v.length;
  }
  if (total > MAX_PROMPT_ARG)
    throw outOfBounds(s, `\`arguments\` are larger than ${MAX_PROMPT_ARG} characters`, 'arguments');
  const problem = checkBounds(args);
  if (problem) throw outOfBounds(s, `\`${problem.path}\` ${problem.message}`, problem.path);
}

/**
 * The URI was made canonical (and, for a local server, real) by route, before anything looked it up:
 * what goes upstream is already that form. Here a URI that has none is refused, after visibility.
 */
function validateResource(s: CallState): void {
  const r = routeOf(s).resource;
  if (!r) throw new GatehouseError('E_INTERNAL', 'the route of a resource has no canonical URI');
  if ('refused' in r) throw invalid(r.refused, 'uri');
  s.resources = [r];
}

/**
 * Text that is not Unicode — half of a UTF-16 surrogate pair, which JSON's `\ud800` lets through —
 * anywhere in the params. Refused before anything reads them: policy judges text, RFC 8785 (the
 * audit's argument hash, an approval's binding) cannot encode it, and nobody should pass it upstream.
 */
function refuseLoneSurrogates(s: CallState): void {
  const at = loneSurrogateAt(s.params);
  if (!at) return;
  const path = pathText(at);
  throw invalid(`\`${path}\` holds a lone UTF-16 surrogate (half of a pair): not Unicode text`, path);
}

export const validateArguments: Stage = async (s, deps) => {
  refuseLoneSurrogates(s);
  if (s.method === 'completion/complete') {
    const a = s.params.argument as JsonObject | undefined;
    if (
      !a ||
      typeof a.name !== 'string' ||
      typeof a.value !== 'string' ||
      a.name.length > 256 ||
      a.value.length > MAX_PROMPT_ARG
    )
      throw invalid('`argument` must be `{ name, value }` strings within bounds', 'argument');
    // A template reference is a pattern, not a resource: the completion is judged by the template.
    if (s.kind === 'resource' && routeOf(s).item.startsWith('template:')) return;
  }
  if (s.kind === 'tool') return validateTool(s, deps);
  if (s.kind === 'prompt') return s.method === 'prompts/get' ? validatePrompt(s) : undefined;
  return validateResource(s);
};
