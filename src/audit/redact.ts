// Redaction engine for everything Gatehouse stores or exports (audit records, logs, exports).
//
// Removes: configured secret values in the encodings it knows (./secret-patterns.ts, SecretMatcher),
// well-known secret formats (WELL_KNOWN), both also in a text's decoded view (./decoded-view.ts), configured/default sensitive field names, and configured
// JSON paths. Runs in bounded time: every string scan is linear, strings are cut at
// maxStringLength, and depth and node count are capped. If anything throws, the whole value is
// replaced by WITHHELD: a redactor never hands back its input unredacted.
//
// Paths: a small JSONPath (../util/json-path.ts), e.g. `$.arguments.email`, `$.items[*].card`, `$..ssn`.

import { SecretMatcher, marker, redactWellKnown, redactWellKnownDecoded } from './secret-patterns.ts';
import { withDecodeBudget } from './decoded-view.ts';
import { parseJsonPath, type Step } from '../util/json-path.ts';

export interface RedactorOptions {
  /** Exact secret values to remove wherever they appear. At least 6 characters each. */
  secrets?: string[];
  /** Object keys whose values are replaced wholesale (case-insensitive, `-`/`_` ignored). */
  fields?: string[];
  /** Include DEFAULT_FIELDS (default true). */
  defaultFields?: boolean;
  /** JSON paths whose values are replaced (syntax above). */
  paths?: string[];
  /** Longer strings are cut (then scanned) and marked [TRUNCATED]. Default 1 MiB of UTF-16 units. */
  maxStringLength?: number;
  /** Deeper subtrees are withheld. Default 64. */
  maxDepth?: number;
  /** Nodes beyond this count are withheld: the rest of each container is one marker. Default 100 000. */
  maxNodes?: number;
}

export interface Redaction {
  value: unknown;
  /** number of replacements made */
  count: number;
  /** true when anything was withheld (a limit was hit, or redaction failed) */
  withheld: boolean;
  /** kinds of what was removed, sorted; never the secret itself */
  kinds: string[];
}

export const WITHHELD = '[WITHHELD: redaction failed]';
const MIN_SECRET_LENGTH = 6;
const DEFAULT_FIELDS: readonly string[] = [
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'api_key',
  'apikey',
  'x-api-key',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'private_key',
  'secret_key',
  'session_token',
  'credentials',
  'ssn',
  'credit_card',
  'card_number',
  'cvv',
  'cvc',
];

/** The key of an object's one marker for the members past the node limit. */
const NODE_LIMIT_KEY = '[WITHHELD]';

/** Characters dropped from the end of a cut string: a token straddling the cut is removed whole. */
const CUT_LOOKBACK = 8192;

interface Ctx {
  count: number;
  kinds: Set<string>;
  nodes: number;
  withheld: boolean;
}

const normField = (k: string) => k.toLowerCase().replace(/[-_]/g, '');

const stepMatches = (s: Step, key: string | number) =>
  s.any || (typeof key === 'number' ? s.index === key : s.key === key);

export class Redactor {
  // Plain (not #private) fields so withSecrets() can make a shallow copy.
  private matchers: SecretMatcher[];
  private secretSet: Set<string>;
  private readonly fields: Set<string>;
  private readonly paths: Step[][];
  private readonly rootStates: number[];
  private readonly rootMatched: boolean;
  private readonly maxStringLength: number;
  private readonly maxDepth: number;
  private readonly maxNodes: number;

  constructor(opts: RedactorOptions = {}) {
    const secrets = Redactor.checkSecrets(opts.secrets ?? []);
    this.secretSet = new Set(secrets);
    this.matchers = secrets.length ? [SecretMatcher.of(secrets)] : [];
    const fields = [...(opts.defaultFields === false ? [] : DEFAULT_FIELDS), ...(opts.fields ?? [])];
    this.fields = new Set(fields.map(normField));
    this.paths = (opts.paths ?? []).map((p) => parseJsonPath(p, 'Redactor: '));
    // A traversal state is (path index, step index) packed as p * 65536 + i.
    this.rootStates = this.paths.flatMap((p, n) => (p.length ? [n * 65536] : []));
    this.rootMatched = this.paths.some((p) => p.length === 0);
    const limit = (v: number | undefined, d: number, name: string) => {
      if (v === undefined) return d;
      if (!Number.isInteger(v) || v < 1) throw new Error(`Redactor: ${name} must be a positive integer`);
      return v;
    };
    this.maxStringLength = limit(opts.maxStringLength, 1 << 20, 'maxStringLength');
    this.maxDepth = limit(opts.maxDepth, 64, 'maxDepth');
    this.maxNodes = limit(opts.maxNodes, 100_000, 'maxNodes');
  }

  private static checkSecrets(secrets: string[]): string[] {
    for (const s of secrets) {
      if (typeof s !== 'string') throw new Error('Redactor: secrets must be strings');
      // Never echo the value: it is a secret.
      if (s.length < MIN_SECRET_LENGTH)
        throw new Error(
          `Redactor: secret values must be at least ${MIN_SECRET_LENGTH} characters (got one of ${s.length})`,
        );
    }
    return [...new Set(secrets)];
  }

  /** A copy that also removes `extra` (e.g. credentials injected into one call). Only the new
   * secrets are compiled; fields, paths and the existing automaton are shared. */
  withSecrets(extra: string[]): Redactor {
    const fresh = Redactor.checkSecrets(extra).filter((s) => !this.secretSet.has(s));
    const copy = Object.assign(Object.create(Redactor.prototype) as Redactor, this);
    copy.secretSet = new Set([...this.secretSet, ...fresh]);
    copy.matchers = fresh.length ? [...this.matchers, SecretMatcher.of(fresh)] : this.matchers;
    return copy;
  }

  redact(value: unknown): Redaction {
    const ctx: Ctx = { count: 0, kinds: new Set(), nodes: 0, withheld: false };
    try {
      let out: unknown;
      if (this.rootMatched && value !== undefined) out = this.hit('path', ctx);
      // One bound for the record's decoded readings (./decoded-view.ts): a text past it is redacted whole.
      else out = withDecodeBudget(() => this.walk(value, 0, this.rootStates, ctx));
      return { value: out, count: ctx.count, withheld: ctx.withheld, kinds: [...ctx.kinds].sort() };
    } catch {
      return { value: WITHHELD, count: 0, withheld: true, kinds: ['error'] };
    }
  }

  redactString(s: string): { text: string; count: number } {
    const ctx: Ctx = { count: 0, kinds: new Set(), nodes: 0, withheld: false };
    try {
      return { text: withDecodeBudget(() => this.str(String(s), ctx)), count: ctx.count };
    } catch {
      return { text: WITHHELD, count: 0 };
    }
  }

  private hit(kind: string, ctx: Ctx): string {
    ctx.count++;
    ctx.kinds.add(kind);
    return marker(kind);
  }

  private limit(kind: string, ctx: Ctx): string {
    ctx.withheld = true;
    ctx.kinds.add(kind);
    return `[WITHHELD: ${kind} exceeded]`;
  }

  private walk(v: unknown, depth: number, states: number[], ctx: Ctx): unknown {
    if (++ctx.nodes > this.maxNodes) return this.limit('node-limit', ctx);
    if (typeof v === 'string') return this.str(v, ctx);
    if (typeof v === 'number' || typeof v === 'bigint') {
      // Numbers are not secrets, unless a configured secret is that number.
      if (!this.secretSet.size) return v;
      const r = this.str(String(v), ctx);
      return r === String(v) ? v : r;
    }
    if (v === null || typeof v !== 'object') return v; // boolean, undefined, symbol, function
    if (depth >= this.maxDepth) return this.limit('depth-limit', ctx);
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return this.limit('binary', ctx);
    // Past the node limit the rest of a container is one marker and the walk stops: a marker per
    // remaining item made the copy larger than its input (two million zeros, 4 MB, became 65 MB of
    // markers in one audit record). Each enclosing container adds one more: at most maxDepth.
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        if (ctx.nodes >= this.maxNodes) {
          out.push(this.limit('node-limit', ctx));
          break;
        }
        out.push(this.child(v[i], i, depth, states, ctx));
      }
      return out;
    }
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return this.walk(toJSON.call(v), depth + 1, states, ctx); // Date etc.
    const out: Record<string, unknown> = {};
    const put = (k: string, value: unknown) => {
      let key = k;
      for (let n = 2; Object.hasOwn(out, key); n++) key = `${k}#${n}`;
      // defineProperty: a key named __proto__ must stay a plain property.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    };
    for (const k of Object.keys(v)) {
      if (ctx.nodes >= this.maxNodes) {
        put(NODE_LIMIT_KEY, this.limit('node-limit', ctx));
        break;
      }
      const value = this.child((v as Record<string, unknown>)[k], k, depth, states, ctx);
      put(this.str(k, ctx), value); // a key can itself contain a secret
    }
    return out;
  }

  private child(value: unknown, key: string | number, depth: number, states: number[], ctx: Ctx): unknown {
    const next: number[] = [];
    let matched = false;
    for (const st of states) {
      const p = Math.floor(st / 65536);
      const i = st % 65536;
      const step = this.paths[p][i];
      if (step.desc && !next.includes(st)) next.push(st); // a descendant may still match deeper
      if (stepMatches(step, key)) {
        if (i + 1 === this.paths[p].length) matched = true;
        else if (!next.includes(st + 1)) next.push(st + 1);
      }
    }
    if (value !== undefined && value !== null) {
      if (matched) return this.hit('path', ctx);
      if (typeof key === 'string' && this.fields.has(normField(key))) return this.hit('field', ctx);
    }
    return this.walk(value, depth + 1, next, ctx);
  }

  /** Redacts one string: cut to the limit, then secret values, then well-known formats. */
  private str(input: string, ctx: Ctx): string {
    let s = input;
    let cut = false;
    if (s.length > this.maxStringLength) {
      s = s.slice(0, this.maxStringLength);
      // Drop the trailing run of non-whitespace: a token cut in half would no longer match.
      let j = s.length;
      while (j > 0 && s.length - j < CUT_LOOKBACK && !/\s/.test(s[j - 1])) j--;
      s = s.slice(0, j);
      cut = true;
      ctx.kinds.add('truncated');
    }
    for (const m of this.matchers) {
      const spans = m.find(s);
      if (!spans.length) continue;
      let out = '';
      let last = 0;
      for (const [a, b] of spans) {
        out += s.slice(last, a) + this.hit('secret', ctx);
        last = b;
      }
      s = out + s.slice(last);
    }
    const note = (kind: string) => {
      ctx.count++;
      ctx.kinds.add(kind);
    };
    s = redactWellKnownDecoded(redactWellKnown(s, note), note);
    return cut ? `${s}[TRUNCATED: ${input.length} chars]` : s;
  }
}
