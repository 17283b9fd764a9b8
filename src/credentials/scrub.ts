/**
 * Removing injected credential values — in every encoding the redaction engine knows (raw, base64
 * at any alignment, URL, hex, UTF-16, JSON-escaped, and what a text's decoded view shows: percent,
 * `\u`/`\x` and HTML escapes however mixed, NFKD look-alikes) — from what leaves the gateway:
 * results, upstream error messages and log lines. An upstream that echoes its environment or headers back gives nothing away.
 * The gateway's own secrets (its secrets key, its store's password: src/config/gateway-secrets.ts)
 * are scrubbed with them, whatever the connections hold: a server handed one by mistake, or one that
 * finds one, prints it to a log that shows nothing of it.
 */
import type { Logger } from '../observability/logger.ts';
import { SecretMatcher, marker, redactWellKnown, redactWellKnownDecoded } from '../audit/secret-patterns.ts';
import { UNREAD, boundOf, decodedText, withDecodeBudget } from '../audit/decoded-view.ts';
import { type ValuePath, pathText } from '../util/well-formed.ts';

const MAX_DEPTH = 64;
const nothing = () => {};

export class SecretScrubber {
  #key = '';
  /** The connections' values (update) and the gateway's own (own): scrubbed together. */
  #given: readonly string[] = [];
  #own: readonly string[] = [];
  #values = new Set<string>();
  #list: readonly string[] = [];
  #matcher: SecretMatcher | undefined;
  #revision = 0;

  /**
   * Every value scrubbed now and `extra` (a call's own, normally among them): one array while they
   * stay the same, so what is built from it (an audit redactor) is built once.
   */
  valuesWith(extra: readonly string[] = []): readonly string[] {
    for (const x of extra) if (x.length >= 6 && !this.#values.has(x)) return [...new Set([...this.#list, ...extra])];
    return this.#list;
  }

  /** Moves whenever the values change: what was scrubbed before (cached listings) is stale when it moved. */
  get revision(): number {
    return this.#revision;
  }

  /** Scrub with these values from now on (values shorter than 6 characters cannot be matched safely and are refused by the engine). */
  update(values: readonly string[]): void {
    this.#given = [...values];
    this.#apply();
  }

  /** The gateway's own secrets, scrubbed from now on besides what `update` is given (replaced at each call). */
  own(values: readonly string[]): void {
    this.#own = [...values];
    this.#apply();
  }

  #apply(): void {
    const usable = [...new Set([...this.#given, ...this.#own].filter((v) => v.length >= 6))].sort();
    const key = usable.join('\u0000');
    if (key === this.#key) return;
    this.#key = key;
    this.#revision++;
    this.#values = new Set(usable);
    this.#list = Object.freeze(usable);
    this.#matcher = usable.length ? SecretMatcher.of(usable) : undefined;
  }

  text(s: string, matcher = this.#matcher): string {
    if (!matcher) return s;
    const spans = matcher.find(s);
    if (!spans.length) return s;
    let out = '';
    let at = 0;
    for (const [a, b] of spans) {
      out += s.slice(at, a) + marker('credential');
      at = b;
    }
    return out + s.slice(at);
  }

  /**
   * A deep copy with every string (and key) scrubbed; `extra` adds values for this one call. Past the
   * depth bound nothing is passed through: the rest is withheld. A value split across the texts of
   * consecutive array items (content blocks) is found in their concatenation and removed from each.
   */
  value<T>(v: T, extra: readonly string[] = []): T {
    return withDecodeBudget(() => this.#value(v, extra));
  }

  #value<T>(v: T, extra: readonly string[]): T {
    // A connection's values are normally among those already held: the compiled matcher serves; a
    // new automaton is built only for values it does not know (building one costs more than a scan).
    const unknown = extra.filter((x) => x.length >= 6 && !this.#values.has(x));
    const matcher = unknown.length ? SecretMatcher.of([...new Set([...unknown, ...this.#values])]) : this.#matcher;
    if (!matcher) return v;
    const walk = (x: unknown, depth: number): unknown => {
      if (typeof x === 'string') return this.text(x, matcher);
      if (!x || typeof x !== 'object') return x;
      if (depth > MAX_DEPTH) return WITHHELD_DEEP;
      if (Array.isArray(x)) return this.#joined(x, matcher).map((y) => walk(y, depth + 1));
      return Object.fromEntries(Object.entries(x).map(([k, y]) => [this.text(k, matcher), walk(y, depth + 1)]));
    };
    return walk(v, 0) as T;
  }

  /**
   * What in `v` (any depth, keys too, across consecutive content blocks) is a credential: an injected
   * value of any tenant's connection (in every encoding), or a well-known secret format (private keys,
   * JWTs, cloud and API tokens; not the `password=` heuristic, which names too much that is not one),
   * also in the text's decoded view (../audit/decoded-view.ts): percent, `\u`/`\x` and HTML escapes,
   * NFKD look-alikes, and a token split by invisible or combining marks, looked for without them.
   * The kinds found, empty when none; past the depth bound, `nested too deeply to check`; a text
   * whose decoded view would pass its bound (../audit/decoded-view.ts, per text and per call), `not
   * inspectable: …` naming where (what its raw reading holds is still said): never clean.
   */
  find(v: unknown): string[] {
    return withDecodeBudget(() => this.#find(v));
  }

  #find(v: unknown): string[] {
    const found = new Set<string>();
    const matcher = this.#matcher;
    const note = (kind: string) => found.add(kind);
    const look = (text: string, at: ValuePath) => {
      const decoded = decodedText(text);
      if (decoded === UNREAD) {
        // What its raw reading holds is still said; the rest cannot be read: never clean.
        if (matcher?.hasRaw(text)) found.add('injected credential');
        redactWellKnown(text, note, 'key-value');
        found.add(notInspectable(at, text.length));
        return;
      }
      // The matcher reads the decoded view itself (and cuts what it finds out of the original).
      if (matcher?.find(text).length) found.add('injected credential');
      redactWellKnown(text, note, 'key-value');
      if (decoded !== undefined) redactWellKnown(decoded, note, 'key-value');
    };
    const joined = (texts: string[], at: ValuePath) => {
      const all = texts.join('');
      if (decodedText(all) !== UNREAD) {
        if (matcher?.find(all).length) found.add('injected credential');
      } else if (matcher?.hasRaw(all)) found.add('injected credential');
      else found.add(notInspectable(at, all.length));
    };
    const walk = (x: unknown, depth: number, at: ValuePath): void => {
      if (typeof x === 'string') {
        look(x, at);
        return;
      }
      if (!x || typeof x !== 'object') return;
      if (depth > MAX_DEPTH) {
        found.add('nested too deeply to check');
        return;
      }
      if (Array.isArray(x)) {
        const texts = x.map(textOf).filter((t): t is string => t !== undefined);
        if (texts.length > 1 && matcher) joined(texts, at);
        for (let i = 0; i < x.length; i++) walk(x[i], depth + 1, [...at, i]);
        return;
      }
      for (const [k, y] of Object.entries(x)) {
        look(k, [...at, k]);
        walk(y, depth + 1, [...at, k]);
      }
    };
    walk(v, 0, []);
    return [...found];
  }

  /** A deep copy with well-known secret formats replaced by markers (results, when configured). */
  patterns<T>(v: T): T {
    return withDecodeBudget(() => this.#patterns(v));
  }

  #patterns<T>(v: T): T {
    const text = (s: string) => redactWellKnownDecoded(redactWellKnown(s, nothing), nothing);
    const walk = (x: unknown, depth: number): unknown => {
      if (typeof x === 'string') return text(x);
      if (!x || typeof x !== 'object') return x;
      if (depth > MAX_DEPTH) return WITHHELD_DEEP;
      if (Array.isArray(x)) return x.map((y) => walk(y, depth + 1));
      // Identifiers (a resource's URI, a content type) are not where a found secret is told; what
      // such a key holds that is no string is no identifier (a schema's property called `name`).
      return Object.fromEntries(
        Object.entries(x).map(([k, y]) => [
          text(k),
          IDENTIFIERS.has(k) && typeof y === 'string' ? y : walk(y, depth + 1),
        ]),
      );
    };
    return walk(v, 0) as T;
  }

  /**
   * The items of an array with any secret that spans two or more of their texts cut out of each part.
   * The texts are joined as a reader of the content would read them: an item without text (an image
   * between two text blocks) joins nothing. Before, it joined a separator, and a secret split around
   * an image reached the caller in two halves that a client putting the text together made whole.
   */
  #joined(items: unknown[], matcher: SecretMatcher): unknown[] {
    const texts = items.map(textOf);
    if (texts.filter((t) => t !== undefined).length < 2) return items;
    let joined = '';
    const starts: number[] = [];
    for (const t of texts) {
      starts.push(joined.length);
      joined += t ?? '';
    }
    const cuts = new Map<number, Array<[number, number]>>();
    for (const [a, b] of matcher.find(joined)) {
      for (let i = 0; i < items.length; i++) {
        const t = texts[i];
        if (t === undefined) continue;
        const from = Math.max(a, starts[i]);
        const to = Math.min(b, starts[i] + t.length);
        if (from >= to || (a >= starts[i] && b <= starts[i] + t.length)) continue; // wholly inside one item: the walk finds it
        cuts.set(i, [...(cuts.get(i) ?? []), [from - starts[i], to - starts[i]]]);
      }
    }
    if (!cuts.size) return items;
    return items.map((item, i) => {
      const spans = cuts.get(i);
      const original = texts[i];
      if (!spans || original === undefined) return item;
      let t = original;
      for (const [a, b] of spans.sort((x, y) => y[0] - x[0])) t = t.slice(0, a) + marker('credential') + t.slice(b);
      return withText(item, t);
    });
  }
}

/** A kind `find` says for a text it cannot read decoded: where, and the bound it would pass. */
const NOT_INSPECTABLE = 'not inspectable';
export const isNotInspectable = (kind: string): boolean => kind.startsWith(NOT_INSPECTABLE);
const notInspectable = (at: ValuePath, n: number): string =>
  `${NOT_INSPECTABLE}: \`${pathText(at) || '(the whole value)'}\` does not read within its bound with its escapes and look-alikes undone (at most ${boundOf(n)} characters, four times its length in any part)`;

const IDENTIFIERS = new Set(['uri', 'uriTemplate', 'mimeType', 'type', 'name']);
const WITHHELD_DEEP = '[withheld: nested too deeply to check for secrets]';

/** The text of an array item: a string, a content block's `text`, or an embedded resource's `resource.text`. */
function textOf(item: unknown): string | undefined {
  if (typeof item === 'string') return item;
  if (!item || typeof item !== 'object') return undefined;
  const { text, resource } = item as { text?: unknown; resource?: { text?: unknown } };
  if (typeof text === 'string') return text;
  if (resource && typeof resource === 'object' && typeof resource.text === 'string') return resource.text;
  return undefined;
}

/** `item` with its text (as textOf found it) replaced by `t`. */
function withText(item: unknown, t: string): unknown {
  if (typeof item === 'string') return t;
  const o = item as Record<string, unknown>;
  if (typeof o.text === 'string') return { ...o, text: t };
  return { ...o, resource: { ...(o.resource as Record<string, unknown>), text: t } };
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** A logger whose every record is scrubbed first (for the connections that hold credentials). */
export function scrubbingLogger(log: Logger, scrubber: SecretScrubber): Logger {
  const wrap = (l: Logger): Logger =>
    new Proxy(l, {
      get(target, prop, receiver) {
        if (prop === 'child')
          return (bindings: object, opts?: object) => wrap(target.child(scrubber.value(bindings), opts as never));
        if (typeof prop === 'string' && LEVELS.has(prop)) {
          return (obj: unknown, ...rest: unknown[]) =>
            (target as unknown as Record<string, (...a: unknown[]) => void>)[prop](
              scrubber.value(obj),
              ...rest.map((r) => (typeof r === 'string' ? scrubber.text(r) : r)),
            );
        }
        return Reflect.get(target, prop, receiver);
      },
    });
  return wrap(log);
}
