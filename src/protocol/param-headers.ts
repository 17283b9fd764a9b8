/**
 * `x-mcp-header` (2026-07-28): tool parameters a server asks to see mirrored into `Mcp-Param-<Name>`
 * HTTP headers. The gateway checks the caller's headers against the body (a mismatch is -32020) and
 * sets them itself on the way to a modern HTTP upstream. Pure functions.
 */
import type { JsonObject } from './jsonrpc.ts';
import { badSentinel } from './header-value.ts';

export interface ParamHeader {
  /** The `<Name>` part, as the schema spells it. */
  name: string;
  /** Property path from the arguments root. */
  path: string[];
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Annotations reachable through `properties` chains only, valid and case-insensitively unique. */
export function paramHeaders(inputSchema: unknown): ParamHeader[] {
  const out: ParamHeader[] = [];
  const seen = new Set<string>();
  const walk = (schema: unknown, path: string[]): void => {
    if (!schema || typeof schema !== 'object') return;
    const props = (schema as { properties?: Record<string, unknown> }).properties;
    if (!props || typeof props !== 'object') return;
    for (const [key, sub] of Object.entries(props)) {
      if (!sub || typeof sub !== 'object') continue;
      const h = (sub as Record<string, unknown>)['x-mcp-header'];
      const type = (sub as { type?: unknown }).type;
      if (
        typeof h === 'string' &&
        TOKEN.test(h) &&
        (type === 'string' || type === 'integer' || type === 'boolean') &&
        !seen.has(h.toLowerCase())
      ) {
        seen.add(h.toLowerCase());
        out.push({ name: h, path: [...path, key] });
      }
      walk(sub, [...path, key]);
    }
  };
  walk(inputSchema, []);
  return out;
}

function valueAt(args: JsonObject | undefined, path: string[]): unknown {
  let v: unknown = args;
  for (const k of path) {
    if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as JsonObject)[k];
  }
  return v;
}

/** The header value a conforming client sends for `value`, before base64 encoding. */
function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** Expected `mcp-param-<name>` (lowercased) -> text, for the arguments given. */
export function expectedParamHeaders(
  inputSchema: unknown,
  args: JsonObject | undefined,
): Map<string, { name: string; text: string; numeric: boolean }> {
  const out = new Map<string, { name: string; text: string; numeric: boolean }>();
  for (const p of paramHeaders(inputSchema)) {
    const v = valueAt(args, p.path);
    const text = v === null || v === undefined ? undefined : headerText(v);
    if (text !== undefined)
      out.set(`mcp-param-${p.name.toLowerCase()}`, { name: p.name, text, numeric: typeof v === 'number' });
  }
  return out;
}

/** What is wrong with the caller's Mcp-Param headers, or undefined when they match the body. */
export function paramHeaderProblem(
  inputSchema: unknown,
  args: JsonObject | undefined,
  headers: Record<string, string | string[] | undefined>,
  decode: (v: string) => string | undefined,
): string | undefined {
  const expected = expectedParamHeaders(inputSchema, args);
  for (const p of paramHeaders(inputSchema)) {
    const key = `mcp-param-${p.name.toLowerCase()}`;
    const raw = headers[key];
    if (typeof raw === 'string' && !/^[\x20-\x7e\t]*$/.test(raw))
      return `\`Mcp-Param-${p.name}\` has characters a header may not carry (use the base64 form)`;
    if (typeof raw === 'string' && badSentinel(raw)) return `\`Mcp-Param-${p.name}\` is not valid base64`;
    const got = typeof raw === 'string' ? decode(raw) : undefined;
    if (typeof raw === 'string' && got === undefined) return `\`Mcp-Param-${p.name}\` is not valid base64 of UTF-8`;
    const want = expected.get(key);
    if (!want) {
      if (got !== undefined) return `\`Mcp-Param-${p.name}\` is set but the argument is absent`;
      continue;
    }
    if (got === undefined) return `\`Mcp-Param-${p.name}\` is missing`;
    const same = want.numeric ? Number(got) === Number(want.text) && got.trim() !== '' : got === want.text;
    if (!same) return `\`Mcp-Param-${p.name}\` does not match the argument`;
  }
  return undefined;
}
