/**
 * Lone UTF-16 surrogates in JSON values. JSON's `\ud800` escape lets any party send half of a
 * surrogate pair, which is not Unicode text: RFC 8785 (the canonical JSON every hash and pin covers)
 * cannot encode it, PostgreSQL's text and jsonb refuse it, and I-JSON (RFC 7493) forbids it. A
 * caller's request holding one is refused where it is validated (naming where); an upstream's
 * definition holding one is shown and pinned with U+FFFD in its place, and marked.
 *
 * Both walks are iterative: a hostile value nests as deep as its body allows.
 */

/** Where a value is, from its root: keys and indexes. */
export type ValuePath = Array<string | number>;

/** A step of a path, linked to the one before it: a deep value costs no copy of its path per level. */
type Step = { up: Step | undefined; key: string | number } | undefined;

function pathOf(step: Step): ValuePath {
  const out: ValuePath = [];
  for (let s = step; s; s = s.up) out.push(s.key);
  return out.reverse();
}

/** The first lone surrogate in `value` (in a string or an object key), as its path; undefined when none. */
export function loneSurrogateAt(value: unknown): ValuePath | undefined {
  // Every call's params are walked: first without building paths (nothing allocated but the stack),
  // and only a value that holds one walked again for where.
  return holdsLoneSurrogate(value) ? firstPath(value) : undefined;
}

/**
 * False when `value` (JSON data) certainly holds no lone surrogate, in one pass of the engine's own
 * code: JSON.stringify writes a lone surrogate as a `\udXXX` escape and nothing else as `\ud` (a
 * backslash in a text is written `\\`), so a text without `\ud` has none; true means walk it. For a
 * large value checked once (an upstream's whole listing at discovery): a walk per definition (four
 * per tool) made V8 optimise the walk with TurboFan during every start with a catalogue of 200 tools,
 * paging about 5 MB of the compiler's code in for good (ADR 0014). A call's params are walked instead:
 * for a small value the walk costs less than the text.
 */
export function mayHoldLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return !value.isWellFormed();
  try {
    // undefined for a value that is not JSON (a function): nothing to hold.
    return (JSON.stringify(value) as string | undefined)?.includes('\\ud') === true;
  } catch {
    return true; // not JSON data (a cycle, a bigint): the walk decides
  }
}

function holdsLoneSurrogate(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return true;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else if (v !== null && typeof v === 'object') {
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        if (!k.isWellFormed()) return true;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return false;
}

function firstPath(value: unknown): ValuePath | undefined {
  const stack: Array<[unknown, Step]> = [[value, undefined]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, at] = top;
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return pathOf(at);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], { up: at, key: i }]);
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i];
        if (!k.isWellFormed()) return pathOf({ up: at, key: k });
        stack.push([(v as Record<string, unknown>)[k], { up: at, key: k }]);
      }
    }
  }
  return undefined;
}

/**
 * `value` with every lone surrogate, in strings and object keys, replaced by U+FFFD: the same value
 * when it holds none, else a copy (keys in their order; of two keys that become one, one value is kept).
 */
export function wellFormed<T>(value: T): T {
  if (loneSurrogateAt(value) === undefined) return value;
  const root: Record<string, unknown> = {};
  const stack: Array<[unknown, Record<string | number, unknown>, string | number]> = [[value, root, 'v']];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, parent, key] = top;
    let out: unknown = v;
    if (typeof v === 'string') out = v.toWellFormed();
    else if (Array.isArray(v)) {
      const copy: unknown[] = new Array(v.length);
      for (let i = 0; i < v.length; i++) stack.push([v[i], copy as unknown as Record<number, unknown>, i]);
      out = copy;
    } else if (v !== null && typeof v === 'object') {
      const copy: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const wk = k.toWellFormed();
        // Defined, not assigned: a `__proto__` key stays a key, as JSON.parse made it.
        Object.defineProperty(copy, wk, { value: undefined, writable: true, enumerable: true, configurable: true });
        stack.push([(v as Record<string, unknown>)[k], copy, wk]);
      }
      out = copy;
    }
    parent[key] = out;
  }
  return root.v as T;
}

/** One step of a path: `[2]` for an index, `.name` for a plain key, `["odd key"]` for any other (escaped). */
function pathPart(p: string | number): string {
  if (typeof p === 'number') return `[${p}]`;
  return /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
}

/** A path as the gateway's messages write it: `arguments.note`, `items[2]`, `properties["k\udc00"]`. */
export function pathText(path: ValuePath): string {
  return path.map(pathPart).join('').replace(/^\./, '');
}
