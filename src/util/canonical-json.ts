/**
 * RFC 8785 (JCS) canonical JSON, the text every audit record's chain hash, argument hash and pin
 * covers. The `canonicalize` package is the reference; it builds the text piece by piece, about three
 * times the cost of `JSON.stringify` for an audit record with a 1 KB argument (a profile had it at 5%
 * of the gateway's CPU per call: each call canonicalises its intent, its outcome and its arguments).
 * For the values records are made of, JSON.stringify of a copy whose object keys are in RFC 8785
 * order (UTF-16 code units) is the same text: both write strings and finite numbers as ECMAScript's
 * JSON does, which is what RFC 8785 specifies. Anything where the two could differ goes to the
 * reference instead: a lone surrogate or a non-finite number (the reference refuses them), a key V8
 * would not keep in insertion order (array-index keys come first whatever the order of insertion),
 * `__proto__`, `toJSON`, bigints, anything but plain objects and arrays, and nesting past a depth
 * where recursion would be a risk (the reference is iterative). Values JSON leaves out of objects and
 * writes as null in arrays (undefined, functions, symbols) are treated alike by both.
 */
import canonicalize from 'canonicalize';

/** Deeper than any record; hostile arguments nest deeper, and the reference takes them. */
const MAX_DEPTH = 64;

/** Marks a value the fast path does not take. */
const SLOW = Symbol('slow');

/** RFC 8785 canonical JSON of `value`. `undefined` (not JSON) becomes `null`. Throws as `canonicalize` does. */
export function canonicalJson(value: unknown): string {
  const copy = ordered(value, 0);
  if (copy !== SLOW) return JSON.stringify(copy) ?? 'null';
  return canonicalize(value) ?? 'null';
}

/**
 * Sorts keys by UTF-16 code units (RFC 8785 3.2.3), as `Array.prototype.sort` does for strings: an
 * insertion sort for the few keys of a record's objects, which allocates nothing (`sort` allocates
 * its merge buffer, one of the larger allocations per audit record), `sort` for many.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 32) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > k) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = k;
  }
}

/** `v` with its objects' keys sorted (the same object when they already were), or SLOW. */
function ordered(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      return v.isWellFormed() ? v : SLOW;
    case 'number':
      return Number.isFinite(v) ? v : SLOW;
    case 'boolean':
    case 'undefined': // left out of objects and null in arrays, by both
    case 'function':
    case 'symbol':
      return v;
    case 'object':
      break;
    default:
      return SLOW; // bigints
  }
  if (v === null) return v;
  if (depth >= MAX_DEPTH) return SLOW;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const item = ordered(v[i], depth + 1);
      if (item === SLOW) return SLOW;
      if (item === v[i]) continue;
      out ??= v.slice();
      out[i] = item;
    }
    return out ?? v;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return SLOW;
  const obj = v as Record<string, unknown>;
  if ('toJSON' in obj) return SLOW;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 0; i < keys.length; i++) {
    // Keys JSON.stringify would not write in the order they were added: array indexes (they start
    // with a digit) and `__proto__`; a key with a lone surrogate is refused by the reference. Tested
    // here, not in a function of its own: called for every key of 200 tool definitions at start, such
    // a function was one of two that V8 optimised with TurboFan during a start, which paged about
    // 5 MB of the compiler's code in for good (ADR 0014).
    const key = keys[i];
    const c = key.charCodeAt(0);
    if ((c >= 48 && c <= 57) || key === '__proto__' || !key.isWellFormed()) return SLOW;
    if (i > 0 && keys[i - 1] > keys[i]) sorted = false;
  }
  if (!sorted) sortKeys(keys);
  let out: Record<string, unknown> | undefined = sorted ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const item = ordered(obj[k], depth + 1);
    if (item === SLOW) return SLOW;
    if (out === undefined && item !== obj[k]) {
      out = {};
      for (let j = 0; j < i; j++) out[keys[j]] = obj[keys[j]];
    }
    if (out !== undefined) out[k] = item;
  }
  return out ?? obj;
}
