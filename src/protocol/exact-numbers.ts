/**
 * JSON numbers the gateway cannot carry exactly. JSON.parse reads every number as a 64-bit float, so
 * `9007199254740993` becomes 9007199254740992 and is written on as such: an agent that asks to act on
 * one ticket, or an upstream that lists one, would have the gateway speak of another. A literal is
 * carried exactly when the decimal it writes is the decimal of the float it reads as (`1.0`, `1e3`
 * and `0.1` are; `12345678901234567890`, `1e400` and `0.10000000000000000001` are not). Fifteen
 * significant digits or fewer always are, so only longer literals and three-digit exponents are
 * looked at closely. The gateway refuses what it would alter, in either direction: a caller's
 * message here (strict-json.ts), an upstream's answer to a call in the upstream peer.
 */

/** `s` as `<sign><digits>e<exp>` with value 0.<digits> x 10^exp, no leading or trailing zero digits; `0` for zero. */
function decimal(s: string): string {
  const neg = s.charCodeAt(0) === 45;
  const body = neg ? s.slice(1) : s;
  const e = body.search(/[eE]/);
  const mantissa = e < 0 ? body : body.slice(0, e);
  let exp = e < 0 ? 0 : Number(body.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const int = dot < 0 ? mantissa : mantissa.slice(0, dot);
  let digits = dot < 0 ? mantissa : int + mantissa.slice(dot + 1);
  exp += int.length;
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  digits = digits.slice(lead);
  exp -= lead;
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--;
  if (end === 0) return '0';
  return `${neg ? '-' : ''}${digits.slice(0, end)}e${exp}`;
}

/** Significant digits of a JSON number literal, at most up to 16 (enough to tell). */
function significant(s: string): number {
  let n = 0;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 101 || c === 69) break; // e, E
    if (c < 48 || c > 57) continue; // sign, dot
    if (c !== 48) started = true;
    if (started && ++n > 15) return n;
  }
  return n;
}

const MIN_NORMAL = 2.2250738585072014e-308;

/** Whether JSON.parse reads the number literal `s` (valid JSON) as exactly the decimal it writes. */
export function exactNumber(s: string): boolean {
  const v = Number(s);
  if (!Number.isFinite(v)) return false; // 1e400: JSON.stringify writes null
  // A normal float holds any 15 significant digits; subnormals (and 1e-400, read as 0) hold fewer.
  if (significant(s) <= 15 && Math.abs(v) >= MIN_NORMAL) return true;
  return decimal(s) === decimal(String(v));
}

/** Text that may hold a number with more than 15 significant digits, or an exponent of 3 digits or more. */
const MAYBE_INEXACT = /[0-9.]{16}|[eE][+-]?[0-9]{3}/;

/**
 * The first number literal in the JSON text `text` that JSON.parse would alter, or undefined. Cheap
 * when there is none that could be: one regular-expression test, and a second, reviving parse only
 * when it matches (digits inside strings can make it match; the parse then looks at numbers only).
 */
export function inexactNumberIn(text: string): string | undefined {
  if (!MAYBE_INEXACT.test(text)) return undefined;
  let found: string | undefined;
  JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (found === undefined && typeof value === 'number' && context?.source && !exactNumber(context.source))
      found = context.source;
    return value;
  });
  return found;
}

const INEXACT = new WeakMap<object, string>();

/**
 * JSON.parse of an upstream's message, remembering (for `inexactIn`) the first number it altered.
 * Throws as JSON.parse does.
 */
export function parseUpstreamJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (value !== null && typeof value === 'object') {
    const literal = inexactNumberIn(text);
    if (literal !== undefined) INEXACT.set(value, literal);
  }
  return value;
}

/** The number literal parsing altered in this message (parseUpstreamJson), if any. */
export function inexactIn(message: unknown): string | undefined {
  return message !== null && typeof message === 'object' ? INEXACT.get(message) : undefined;
}

/** A literal as an error message quotes it: at most 40 characters. */
export function quoteNumber(literal: string): string {
  return literal.length > 40 ? `${literal.slice(0, 37)}...` : literal;
}
