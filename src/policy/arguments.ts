/**
 * Input validation before policy reads the arguments: global bounds (depth, string and array
 * lengths, keys, total size; prototype-pollution keys) and the tool's own input schema (JSON Schema
 * 2020-12 through Ajv). Schemas come from the (pinned, reviewed) inventory; they are compiled once per
 * pin, with no remote `$ref` (Ajv never fetches without a loadSchema hook) and a cap on their size.
 * Their `pattern`s run on RE2 (./regexp.ts), the route Ajv documents for untrusted schemas: a
 * backtracking pattern from an upstream cannot stop the event loop, and a value too long to check
 * within the budget is refused, never waved through.
 */
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { lazyRequire } from '../util/lazy.ts';
import { pathText } from '../util/well-formed.ts';
import { RegExpBudgetError, ajvRegExpEngine } from './regexp.ts';

// Loaded with the first schema check, not at start (86 modules, about 2 MB and 35 ms).
const ajv2020 = lazyRequire<typeof import('ajv/dist/2020.js')>('ajv/dist/2020.js');
const addFormats = lazyRequire<(ajv: Ajv2020) => void>('ajv-formats');

const BOUNDS = {
  depth: 32,
  stringLength: 1_000_000,
  arrayLength: 10_000,
  keys: 1_000,
  totalBytes: 4_000_000,
  nodes: 200_000,
} as const;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type ArgumentProblem = { path: string; message: string };

function pathOf(parts: Array<string | number>): string {
  return parts.length ? pathText(parts) : '(arguments)';
}

/** The first bound the arguments break, or undefined. Iterative: hostile nesting cannot overflow the stack. */
export function checkBounds(args: unknown): ArgumentProblem | undefined {
  const stack: Array<[unknown, Array<string | number>]> = [[args, []]];
  let nodes = 0;
  let bytes = 0;
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, path] = top;
    if (++nodes > BOUNDS.nodes) return { path: pathOf(path), message: `more than ${BOUNDS.nodes} values` };
    if (path.length > BOUNDS.depth) return { path: pathOf(path), message: `nested deeper than ${BOUNDS.depth} levels` };
    if (typeof v === 'string') {
      if (v.length > BOUNDS.stringLength)
        return { path: pathOf(path), message: `a string longer than ${BOUNDS.stringLength} characters` };
      bytes += v.length;
    } else if (Array.isArray(v)) {
      if (v.length > BOUNDS.arrayLength)
        return { path: pathOf(path), message: `an array longer than ${BOUNDS.arrayLength} items` };
      v.forEach((x, i) => {
        stack.push([x, [...path, i]]);
      });
    } else if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length > BOUNDS.keys) return { path: pathOf(path), message: `more than ${BOUNDS.keys} keys` };
      for (const k of keys) {
        if (FORBIDDEN_KEYS.has(k)) return { path: pathOf([...path, k]), message: `the key \`${k}\` is not allowed` };
        bytes += k.length;
        stack.push([(v as Record<string, unknown>)[k], [...path, k]]);
      }
    }
    if (bytes > BOUNDS.totalBytes)
      return { path: '(arguments)', message: `more than ${BOUNDS.totalBytes} characters in all` };
  }
  return undefined;
}

const MAX_SCHEMA_CHARS = 1_000_000;
/** At most this many schema problems are reported for one call. */
export const MAX_PROBLEMS = 50;

/** Our words for the schema failures that name an argument; Ajv's message for the rest. */
const SCHEMA_MESSAGES = new Map([
  ['required', 'is required'],
  ['additionalProperties', 'is not an accepted argument'],
]);

/** One Ajv error as the caller is told it: the argument's path (ours) and what is wrong with it. */
function problemOf(e: ErrorObject): ArgumentProblem {
  const where = e.instancePath
    ? e.instancePath
        .slice(1)
        .split('/')
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    : [];
  if (e.keyword === 'required') where.push((e.params as { missingProperty: string }).missingProperty);
  if (e.keyword === 'additionalProperties') where.push((e.params as { additionalProperty: string }).additionalProperty);
  const message = SCHEMA_MESSAGES.get(e.keyword) ?? e.message ?? 'is invalid';
  return { path: pathOf(where.map((p) => (/^\d+$/.test(p) ? Number(p) : p))), message };
}

export class SchemaValidators {
  #compiler: Ajv2020 | undefined;
  readonly #byPin = new Map<string, ValidateFunction | Error>();

  get #ajv(): Ajv2020 {
    if (!this.#compiler) {
      this.#compiler = new (ajv2020().Ajv2020)({
        strict: false,
        allErrors: true,
        validateFormats: true,
        unicodeRegExp: true,
        code: { regExp: ajvRegExpEngine },
      });
      addFormats()(this.#compiler);
    }
    return this.#compiler;
  }

  /** Validate `args` against `schema` (cached by `pin`); the first problem, or undefined. */
  check(pin: string, schema: unknown, args: unknown): ArgumentProblem | undefined {
    return this.problems(pin, schema, args)[0];
  }

  /**
   * Validate `args` against `schema` (cached by `pin`): every problem, each with its path (the same
   * one once), at most MAX_PROBLEMS of them; none when they match. Ajv reports all it finds (`allErrors`):
   * the arguments were bounded before (checkBounds), and a pattern runs on RE2 within its budget.
   */
  problems(pin: string, schema: unknown, args: unknown): ArgumentProblem[] {
    let v = this.#byPin.get(pin);
    if (!v) {
      v = this.#compile(schema);
      if (this.#byPin.size > 5000) this.#byPin.clear();
      this.#byPin.set(pin, v);
    }
    if (v instanceof Error)
      return [
        {
          path: '(schema)',
          message: `the tool's input schema cannot be used (${v.message}), so no call is let through`,
        },
      ];
    try {
      if (v(args ?? {})) return [];
    } catch (err) {
      if (err instanceof RegExpBudgetError) return [{ path: '(arguments)', message: err.message }];
      return [
        { path: '(arguments)', message: 'could not be checked against the input schema, so no call is let through' },
      ];
    }
    const seen = new Set<string>();
    const out: ArgumentProblem[] = [];
    for (const e of v.errors ?? []) {
      const p = problemOf(e);
      const key = `${p.path}\u0000${p.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(p);
      if (out.length >= MAX_PROBLEMS) break;
    }
    return out.length ? out : [{ path: '(arguments)', message: 'do not match the input schema' }];
  }

  #compile(schema: unknown): ValidateFunction | Error {
    try {
      if (schema === undefined) return this.#ajv.compile({ type: 'object' });
      if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return new Error('not an object');
      if (JSON.stringify(schema).length > MAX_SCHEMA_CHARS) return new Error('too large');
      // Draft-07 and 2020-12 schemas from MCP servers share what matters here; the dialect is ours.
      const { $schema: _dialect, $id: _id, ...rest } = schema as Record<string, unknown>;
      return this.#ajv.compile(rest);
    } catch (err) {
      return new Error(String((err as Error).message).slice(0, 200));
    }
  }
}
