/**
 * Strict parsing of untrusted JSON bodies: one linear scan enforces the nesting limit and refuses
 * duplicate object keys (which JSON.parse would silently resolve last-wins, letting a proxy and an
 * upstream disagree about what a message says), then JSON.parse builds the value. The scan allocates
 * only for keys; a 1 KB message costs a few microseconds.
 *
 * The same scan notes how the top-level `id` was written. JSON.parse reads every number as a double,
 * so an id above 2^53 (or written `1.0`, `1e3`) would come back altered in the response: such an id
 * becomes an ExactNumberId that carries the original digits and writes them back verbatim (a request
 * whose id is not an integer written in digits is then refused, jsonrpc.ts classify). The same
 * for `params.requestId` (which request a notifications/cancelled names), so that it still matches.
 * Any other number JSON.parse would alter (more digits than a 64-bit float holds, an exponent out of
 * its range) is refused (exact-numbers.ts): the upstream would be asked about another number than the
 * caller wrote, and policy would have approved that other one.
 */
import { GatehouseError } from './errors.ts';
import { ExactNumberId } from './jsonrpc.ts';
import { exactNumber, quoteNumber } from './exact-numbers.ts';

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_OBJ = 123;
const CLOSE_OBJ = 125;
const OPEN_ARR = 91;
const CLOSE_ARR = 93;
const COLON = 58;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
const DOT = 46;
const LOWER_E = 101;
const UPPER_E = 69;
/** Digits a double always holds exactly (exact-numbers.ts): an integer with no more needs no closer look. */
const MAX_SHORT_DIGITS = 15;

export function parseStrictJson(text: string, maxDepth: number): unknown {
  const { idSource, requestIdSource } = scan(text, maxDepth);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new GatehouseError('E_PARSE');
  }
  if (idSource !== undefined && v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as { id?: unknown };
    if (typeof o.id === 'number' && String(o.id) !== idSource) o.id = new ExactNumberId(idSource);
  }
  const params = (v as { params?: unknown } | null)?.params as { requestId?: unknown } | undefined;
  if (requestIdSource !== undefined && params && typeof params === 'object' && !Array.isArray(params)) {
    if (typeof params.requestId === 'number' && String(params.requestId) !== requestIdSource)
      params.requestId = new ExactNumberId(requestIdSource);
  }
  return v;
}

const NUMBER_TOKEN = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/** The number token at `i` (after whitespace), or undefined. */
function numberAt(s: string, i: number): string | undefined {
  while (
    i < s.length &&
    (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9 || s.charCodeAt(i) === 10 || s.charCodeAt(i) === 13)
  )
    i++;
  NUMBER_TOKEN.lastIndex = i;
  return NUMBER_TOKEN.exec(s)?.[0];
}

/**
 * Check nesting and duplicate keys; return the source text of the top-level `id` and of
 * `params.requestId` when they are numbers.
 */
function scan(s: string, maxDepth: number): { idSource?: string; requestIdSource?: string } {
  let idSource: string | undefined;
  let requestIdSource: string | undefined;
  // keys[d] holds the keys seen in the object open at depth d (undefined for arrays).
  const keys: Array<Set<string> | undefined> = [];
  // The last key seen at depth 1 (the member whose value is open at depth 2), and at depth 2.
  let topKey: string | undefined;
  let key2: string | undefined;
  let depth = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; i < n; i++) {
        const d = s.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i++;
        } else if (d === QUOTE) break;
      }
      const set = keys[depth];
      if (set !== undefined && isKey(s, i + 1)) {
        const raw = s.slice(start + 1, i);
        let key = raw;
        if (escaped) {
          try {
            key = JSON.parse(s.slice(start, i + 1)) as string;
          } catch {
            throw new GatehouseError('E_PARSE');
          }
        }
        if (set.has(key))
          throw new GatehouseError(
            'E_DUPLICATE_KEY',
            `parse error: duplicate object key ${JSON.stringify(key.slice(0, 64))}`,
          );
        set.add(key);
        if (depth === 1) {
          topKey = key;
          if (key === 'id') idSource = numberAt(s, s.indexOf(':', i + 1) + 1);
        } else if (depth === 2) {
          key2 = key;
          if (key === 'requestId' && topKey === 'params') requestIdSource = numberAt(s, s.indexOf(':', i + 1) + 1);
        }
      }
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      // Most numbers are short integers, always exact: a scan of their digits, no token to match
      // (two million zeros in one body took the matching path for about a second).
      const end = shortInteger(s, i);
      if (end > 0) {
        i = end - 1;
        continue;
      }
      NUMBER_TOKEN.lastIndex = i;
      const token = NUMBER_TOKEN.exec(s)?.[0];
      if (token === undefined) continue; // not JSON: JSON.parse says so
      i += token.length - 1;
      // The id and the cancelled request's id are carried by their digits (ExactNumberId), not refused.
      const carried =
        (depth === 1 && topKey === 'id') ||
        (depth === 2 && topKey === 'params' && key2 === 'requestId' && keys[2] !== undefined);
      if (!carried && !exactNumber(token))
        throw new GatehouseError(
          'E_INEXACT_NUMBER',
          `parse error: the number \`${quoteNumber(token)}\` cannot be carried exactly (json numbers are read as 64-bit floats): send it as a string`,
        );
    } else if (c === OPEN_OBJ || c === OPEN_ARR) {
      if (++depth > maxDepth)
        throw new GatehouseError('E_TOO_DEEP', `parse error: json nesting deeper than ${maxDepth}`);
      keys[depth] = c === OPEN_OBJ ? new Set() : undefined;
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
      keys[depth] = undefined;
      depth--;
    }
  }
  return { idSource, requestIdSource };
}

/**
 * The end of the integer literal at `i` when it has at most 15 digits and no fraction or exponent
 * (a double holds it exactly, written as it is: exact-numbers.ts), else 0. A leading zero followed by
 * digits is not JSON: 0, so the full path (and JSON.parse) judge it.
 */
function shortInteger(s: string, i: number): number {
  let j = s.charCodeAt(i) === MINUS ? i + 1 : i;
  const first = j;
  while (j < s.length && j - first <= MAX_SHORT_DIGITS) {
    const d = s.charCodeAt(j);
    if (d < ZERO || d > NINE) break;
    j++;
  }
  const digits = j - first;
  if (digits === 0 || digits > MAX_SHORT_DIGITS || (digits > 1 && s.charCodeAt(first) === ZERO)) return 0;
  const next = s.charCodeAt(j);
  return next === DOT || next === LOWER_E || next === UPPER_E ? 0 : j;
}

/** Is the string that ended just before `i` followed (after whitespace) by a colon? */
function isKey(s: string, i: number): boolean {
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === COLON) return true;
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return false;
  }
  return false;
}
