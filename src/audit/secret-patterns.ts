// Secret detection primitives used by the audit redactor (./redact.ts):
//
//  1. SecretMatcher: finds configured secret VALUES (injected credentials, canaries) in the
//     encodings we know they travel in (raw, base64 std/url incl. embedded in a longer stream, of
//     UTF-8 and UTF-16LE, percent/form encoding, hex of UTF-8 and UTF-16 LE/BE, JSON-escaped and
//     double JSON-escaped), and in a text's decoded view (./decoded-view.ts: percent, `\u`/`\x`
//     and HTML escapes however mixed, NFKD look-alikes, invisible characters inside ASCII left out).
//  2. WELL_KNOWN: recognisers for well-known secret FORMATS (JWTs, cloud/API tokens, PEM keys, ...).
//
// Everything here runs in time linear in the input (see the notes on each part). Nothing here
// ever puts a secret into an error message or a kind name.

import { hash } from 'node:crypto';
import { UNREAD, decodedText, decodedView } from './decoded-view.ts';

export const marker = (kind: string): string => `[REDACTED:${kind}]`;
/** The kind of a text redacted whole because its decoded view would pass its bound (./decoded-view.ts). */
const NOT_INSPECTABLE = 'not-inspectable';

// ---------------------------------------------------------------------------------------------
// 1. Secret values: Aho-Corasick.
//
// Why Aho-Corasick and not one big RegExp alternation of escaped literals: V8's irregexp is a
// backtracking engine; an alternation of k literals is tried alternative by alternative at every
// start position, so the cost is O(n * k) and k grows quickly (about 20 needles per secret, times
// the number of secrets). The automaton below is O(n + matches) regardless of how many needles
// there are, never backtracks, and its cost does not depend on the input's shape.

interface Needle {
  text: string;
  /** a base64 needle: the match is widened over adjacent base64 characters (see SecretMatcher.find). */
  b64: boolean;
  /** Bits to report where the needle ends (see Automaton.bitsOf). */
  bits?: number;
}

/**
 * Aho-Corasick compiled to a full DFA: one table lookup per input character. Characters are first
 * mapped to a small alphabet (only characters that occur in some needle; everything else is
 * symbol 0, which always leads back to the root), which keeps the table small.
 */
class Automaton {
  readonly ascii = new Int32Array(128); // char code < 128 -> symbol
  readonly wide = new Map<number, number>(); // other char codes -> symbol
  readonly width: number; // alphabet size
  readonly delta: Int32Array; // delta[state * width + symbol] -> state
  /** length of the longest needle ending in this state, directly or through failure links (0: none). */
  readonly len: Int32Array;
  readonly b64: Uint8Array;
  /** the bits of every needle ending in this state, directly or through failure links. */
  private readonly bits: Int32Array;

  constructor(needles: Needle[], fold: boolean) {
    let width = 1;
    const symbolOf = (c: number, create: boolean): number => {
      if (fold && c >= 65 && c <= 90) c += 32; // ASCII-only case folding (hex digits, %XX)
      if (c < 128) {
        if (this.ascii[c] === 0 && create) {
          this.ascii[c] = width++;
          if (fold && c >= 97 && c <= 122) this.ascii[c - 32] = this.ascii[c];
        }
        return this.ascii[c];
      }
      let sym = this.wide.get(c);
      if (sym === undefined && create) {
        sym = width++;
        this.wide.set(c, sym);
      }
      return sym ?? 0;
    };
    // 1. The trie.
    const trie: Array<Map<number, number>> = [new Map()];
    const ownLen: number[] = [0];
    const ownB64: boolean[] = [false];
    const ownBits: number[] = [0];
    for (const n of needles) {
      let st = 0;
      for (let i = 0; i < n.text.length; i++) {
        const sym = symbolOf(n.text.charCodeAt(i), true);
        let nx = trie[st].get(sym);
        if (nx === undefined) {
          nx = trie.length;
          trie[st].set(sym, nx);
          trie.push(new Map());
          ownLen.push(0);
          ownB64.push(false);
          ownBits.push(0);
        }
        st = nx;
      }
      ownLen[st] = Math.max(ownLen[st], n.text.length);
      ownB64[st] ||= n.b64;
      ownBits[st] |= n.bits ?? 0;
    }
    // 2. Breadth-first, so the rows of shallower states (failure targets) are complete first.
    this.width = width;
    this.delta = new Int32Array(trie.length * width);
    this.len = Int32Array.from(ownLen);
    this.b64 = Uint8Array.from(ownB64, (b) => (b ? 1 : 0));
    this.bits = Int32Array.from(ownBits);
    const fail = new Int32Array(trie.length);
    const queue: number[] = [0];
    for (let q = 0; q < queue.length; q++) {
      const u = queue[q];
      for (let a = 1; a < width; a++) {
        const v = trie[u].get(a);
        if (v === undefined) {
          this.delta[u * width + a] = u === 0 ? 0 : this.delta[fail[u] * width + a];
          continue;
        }
        this.delta[u * width + a] = v;
        fail[v] = u === 0 ? 0 : this.delta[fail[u] * width + a];
        this.len[v] = Math.max(this.len[v], this.len[fail[v]]);
        this.b64[v] |= this.b64[fail[v]];
        this.bits[v] |= this.bits[fail[v]];
        queue.push(v);
      }
    }
  }

  /** The bits of every needle that occurs in `s`. */
  bitsOf(s: string): number {
    const { ascii, wide, width, delta, bits } = this;
    let st = 0;
    let found = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      st = delta[st * width + (c < 128 ? ascii[c] : (wide.get(c) ?? 0))];
      found |= bits[st];
    }
    return found;
  }
}

const toUrlSafe = (b64: string) => b64.replace(/\+/g, '-').replace(/\//g, '_');
const unpad = (b64: string) => b64.replace(/=+$/, '');
const uEscape = (s: string, upper: boolean) =>
  s.replace(/[^\x20-\x7e]/g, (c) => {
    const h = c.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${upper ? h.toUpperCase() : h}`;
  });
const jsonInner = (s: string) => JSON.stringify(s).slice(1, -1);

/** The case-sensitive and the case-insensitive (hex, percent) needles for one secret value. */
function secretEncodings(secret: string): { exact: Needle[]; caseless: string[] } {
  const exact = new Map<string, boolean>();
  const add = (t: string, b64 = false) => exact.set(t, (exact.get(t) ?? false) || b64);
  add(secret);
  // As a text's decoded view reads it (a value outside ASCII: NFKD, marks inside ASCII left out).
  const seen = decodedText(secret);
  if (typeof seen === 'string' && seen.length >= 6) add(seen);
  // JSON-escaped: as JSON.stringify writes it, with \uXXXX for non-ASCII (either hex case),
  // with escaped slashes, and escaped twice (a JSON document carried inside a JSON string).
  for (const once of [jsonInner(secret), uEscape(jsonInner(secret), false), uEscape(jsonInner(secret), true)]) {
    add(once);
    add(once.replace(/\//g, '\\/'));
    add(jsonInner(once));
  }
  const bytes = Buffer.from(secret, 'utf8');
  // UTF-16LE as well: what Windows tools encode (PowerShell's -EncodedCommand is base64 of it).
  const utf16 = Buffer.from(secret, 'utf16le');
  const std = bytes.toString('base64');
  for (const b of [std, unpad(std), toUrlSafe(std), unpad(toUrlSafe(std))]) add(b, true);
  // Inside a longer base64 stream the secret starts at byte offset 0, 1 or 2 of a 3-byte group.
  // Character j of the encoding carries bits [6j, 6j+6) of the stream; only characters whose
  // bits all come from the secret are stable, the edge characters depend on the neighbours.
  for (const encoded of [bytes, utf16]) {
    for (let k = 0; k < 3; k++) {
      const enc = unpad(Buffer.concat([Buffer.alloc(k), encoded]).toString('base64'));
      const stable = enc.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + encoded.length)) / 6));
      if (stable.length >= 8) {
        add(stable, true);
        add(toUrlSafe(stable), true);
      }
    }
  }
  // Matched case-insensitively (an encoder may write %2f or %2F, hex in either case).
  const component = encodeURIComponent(secret);
  const caseless = new Set<string>([
    bytes.toString('hex'),
    utf16.toString('hex'), // UTF-16LE
    Buffer.from(utf16).swap16().toString('hex'), // UTF-16BE
    component,
    component.replace(/%20/g, '+'), // application/x-www-form-urlencoded
    new URLSearchParams({ v: secret }).toString().slice(2), // also escapes !'()~
    encodeURI(secret),
    // Every byte escaped, some escaped and some not, escaped twice (a URL inside a query parameter):
    // the decoded view finds those (./decoded-view.ts).
  ]);
  return { exact: [...exact].map(([text, b64]) => ({ text, b64 })), caseless: [...caseless] };
}

const B64_CHAR = /[A-Za-z0-9+/_-]/;

/** Texts the memos below keep: long enough that a scan costs more than a compare, and bounded. */
const MEMO_MIN = 256;
const MEMO_MAX = 64 * 1024;

/**
 * Up to this many needles (about three secrets' worth), a text is first searched for each of them
 * with the engine's own string search (`includes`, native): on a text that holds none, which is
 * nearly every text, that is about four times cheaper than one pass through the automata for one
 * secret (1 KB: 0.9 against 3.7 µs) and still cheaper for three (2.5 against 4.2), and it runs no
 * loop of ours. That matters at start: the first listings' scrub (a 200-tool catalogue) ran the
 * automata's loops hot enough for V8 to compile them with TurboFan, which pages about 5 MB of the
 * compiler's code in for good (ADR 0014). Past this many, one pass through the automata wins.
 */
const PREFILTER_MAX = 48;

/**
 * A set of secret values compiled into two automata (exact and ASCII-case-insensitive).
 * find() returns merged [start, end) intervals to replace.
 *
 * One matcher per set of values (`SecretMatcher.of`): the scrubber (what callers and logs get) and
 * the audit redactor (what the trail keeps) hold the same values, and each call's arguments and
 * result pass both. The matcher remembers the last few long texts it scanned and what it found, so
 * the second pass over a text is a string compare where a scan of 1 KB costs several µs; the answer is
 * the scan's, since it depends only on the text and the values.
 */
export class SecretMatcher {
  /** The values until the needles are made (at the first find, not when the matcher is made). */
  private values: readonly string[] | undefined;
  private needles: { exact: Needle[]; caseless: Needle[] } | undefined;
  /** The needles' texts, when there are few enough for the native search (`mayHold`). */
  private prefilter: { exact: string[]; caseless: string[] } | undefined;
  /** Every needle is ASCII (a value outside ASCII is rare): the decoded text's non-ASCII runs are no part of a hit. */
  private asciiOnly = true;
  /** The shortest needle's length: a shorter text holds none (most of a catalogue's texts: names, types, keys). */
  private shortest = 0;
  private automata: { exact: Automaton; caseless: Automaton } | undefined;
  private readonly memoText: string[] = ['', '', '', ''];
  private readonly memoSpans: ReadonlyArray<Span>[] = [[], [], [], []];
  private memoNext = 0;

  /** Matchers built, by a digest of their values; held only while something else holds them. */
  private static readonly built = new Map<string, WeakRef<SecretMatcher>>();

  /** The matcher of exactly these values (in any order, repeats ignored), shared while it is in use. */
  static of(secrets: readonly string[]): SecretMatcher {
    const values = [...new Set(secrets)].sort();
    const key = hash('sha256', values.join('\u0000'));
    const known = SecretMatcher.built.get(key)?.deref();
    if (known) return known;
    const made = new SecretMatcher(values);
    for (const [k, ref] of SecretMatcher.built) if (!ref.deref()) SecretMatcher.built.delete(k);
    SecretMatcher.built.set(key, new WeakRef(made));
    return made;
  }

  private constructor(secrets: readonly string[]) {
    this.values = secrets;
  }

  /** Every encoding of every value; the native search's texts when there are few enough. */
  private makeNeedles(): { exact: Needle[]; caseless: Needle[] } {
    const exact: Needle[] = [];
    const caseless: Needle[] = [];
    for (const s of this.values ?? []) {
      const e = secretEncodings(s);
      exact.push(...e.exact);
      for (const t of e.caseless) caseless.push({ text: t.toLowerCase(), b64: false });
    }
    this.values = undefined;
    this.needles = { exact, caseless };
    this.asciiOnly = exact.every((n) => !NOT_ASCII.test(n.text));
    this.shortest = Math.min(...exact.map((n) => n.text.length), ...caseless.map((n) => n.text.length));
    if (exact.length + caseless.length <= PREFILTER_MAX)
      this.prefilter = { exact: exact.map((n) => n.text), caseless: caseless.map((n) => n.text) };
    return this.needles;
  }

  /**
   * False only if `s` holds no needle. The caseless needles are ASCII (hex and percent encodings),
   * and lower-casing maps every ASCII letter to its own lower case in place, so a run of ASCII that
   * matches one in any case still does in `s.toLowerCase()` (a non-ASCII letter that lowers to ASCII
   * can only add a hit, which the automata then rule out).
   */
  private mayHold(s: string): boolean {
    const p = this.prefilter;
    if (!p) return true;
    for (const n of p.exact) if (s.includes(n)) return true;
    if (p.caseless.length === 0) return false;
    const lower = s.toLowerCase();
    for (const n of p.caseless) if (lower.includes(n)) return true;
    return false;
  }

  /** The automata, built at the first text that may hold a needle. */
  private build(): { exact: Automaton; caseless: Automaton } {
    const { exact, caseless } = this.needles ?? this.makeNeedles();
    this.automata = { exact: new Automaton(exact, false), caseless: new Automaton(caseless, true) };
    return this.automata;
  }

  /**
   * The spans of `s` that hold a value, read as it is and, when it holds an escape or a character
   * outside ASCII, as its decoded view (./decoded-view.ts: percent, `\u`/`\x` and HTML escapes,
   * NFKD look-alikes, invisible characters inside ASCII left out), each found span cut from the
   * original. A text whose decoded view would pass its bound (./decoded-view.ts: UNREAD) is one
   * span, the whole text: what cannot be read is taken whole (`hasRaw` says what its raw reading holds).
   */
  find(s: string): ReadonlyArray<Span> {
    if (!this.needles) this.makeNeedles();
    // Only NFKD makes a text longer (a ligature, a squared word): a shorter ASCII text holds none.
    if (s.length < this.shortest && !NOT_ASCII.test(s)) return NO_SPANS;
    const memo = s.length >= MEMO_MIN && s.length <= MEMO_MAX;
    if (memo) for (let i = 0; i < this.memoText.length; i++) if (this.memoText[i] === s) return this.memoSpans[i];
    const found = this.mayHold(s) ? this.spans(s) : [];
    const decoded = decodedText(s);
    if (decoded === UNREAD) found.push([0, s.length]);
    else if (
      decoded !== undefined &&
      this.mayHold(this.asciiOnly ? asciiRuns(decoded) : decoded) &&
      this.spans(decoded).length
    )
      found.push(...this.viewSpans(s));
    const spans = found.length ? merged(found) : NO_SPANS;
    if (memo) {
      this.memoText[this.memoNext] = s;
      this.memoSpans[this.memoNext] = spans;
      this.memoNext = (this.memoNext + 1) % this.memoText.length;
    }
    return spans;
  }

  /** Whether `s` as it is (not its decoded view) holds a value: the outbound check's answer for a text it cannot read decoded. */
  hasRaw(s: string): boolean {
    if (!this.needles) this.makeNeedles();
    return this.mayHold(s) && this.spans(s).length > 0;
  }

  /**
   * Where in `s` what its decoded text holds came from (the view with its map, made only now); the
   * whole text where the map's reading no longer finds it (NFKD reordering marks, which matters only
   * to a value with marks of its own).
   */
  private viewSpans(s: string): Array<[number, number]> {
    const view = decodedView(s);
    const spans = view ? this.spans(view.text) : [];
    if (!view || !spans.length) return [[0, s.length]];
    return spans.map(([a, b]) => [view.from[a], view.to[b - 1]]);
  }

  /** The (unmerged) spans of `s` that hold a needle, base64 ones widened. */
  private spans(s: string): Array<[number, number]> {
    const hits = this.scan(s);
    const spans: Array<[number, number]> = [];
    for (let h = 0; h < hits.length; h += 3) {
      let start = hits[h];
      let end = hits[h + 1];
      if (hits[h + 2] === 1) {
        // Widen a base64 hit by one character each side (those edge characters still carry a
        // few bits of the secret) and over trailing padding.
        if (start > 0 && B64_CHAR.test(s[start - 1])) start--;
        if (end < s.length && B64_CHAR.test(s[end])) end++;
        for (let p = 0; p < 2 && s[end] === '='; p++) end++;
      }
      spans.push([start, end]);
    }
    return spans;
  }

  /**
   * Both automata in one pass (one read of each character): (start, end, isBase64) triples for the
   * longest needle of either ending at each position.
   */
  private scan(s: string): number[] {
    const hits: number[] = [];
    const { exact: x, caseless: y } = this.automata ?? this.build();
    const { ascii: xa, wide: xw, width: xn, delta: xd, len: xl, b64: xb } = x;
    const { ascii: ya, wide: yw, width: yn, delta: yd, len: yl } = y;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 128) {
        sx = xd[sx * xn + xa[c]];
        sy = yd[sy * yn + ya[c]];
      } else {
        sx = xd[sx * xn + (xw.get(c) ?? 0)];
        sy = yd[sy * yn + (yw.get(c) ?? 0)];
      }
      if (xl[sx] !== 0) hits.push(i + 1 - xl[sx], i + 1, xb[sx]);
      if (yl[sy] !== 0) hits.push(i + 1 - yl[sy], i + 1, 0);
    }
    return hits;
  }
}

type Span = readonly [number, number];
const NO_SPANS: ReadonlyArray<Span> = Object.freeze([]);
const NOT_ASCII = /[\u0080-\uffff]/;

/**
 * `s` with each run outside ASCII one NUL: what the native search looks through when every needle is
 * ASCII (a one-byte string: a two-byte one costs it about 0.6 µs a needle for 1 KB).
 */
const asciiRuns = (s: string) => (NOT_ASCII.test(s) ? s.replace(NOT_ASCII_RUNS, '\u0000') : s);
const NOT_ASCII_RUNS = /[\u0080-\uffff]+/g;

/** Spans sorted and overlapping ones joined, frozen. */
function merged(spans: Array<[number, number]>): ReadonlyArray<Span> {
  spans.sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const sp of spans) {
    const last = out[out.length - 1];
    if (last && sp[0] <= last[1]) last[1] = Math.max(last[1], sp[1]);
    else out.push([sp[0], sp[1]]);
  }
  return Object.freeze(out.map((m) => Object.freeze(m) as Span));
}

// ---------------------------------------------------------------------------------------------
// 2. Well-known formats.
//
// Rules that keep every pattern linear on V8's backtracking engine:
//  - each pattern starts with a negative lookbehind on its own token alphabet, so an attempt can
//    only start at the beginning of a token run (a run of 200 KB of `a` or `eyJeyJ...` is tried
//    once, not at each of its positions);
//  - every repetition is a single character class with an upper bound, never a quantified group;
//  - what follows a repetition is a character that the repeated class excludes (`.`, `@`, `:`),
//    so giving characters back on failure costs O(1) each and at most the bound.
// Private key blocks are found with indexOf instead (a lazy `[\s\S]*?` to an END line would
// rescan the rest of the input for every BEGIN).

export interface WellKnown {
  kind: string;
  /**
   * Texts of which some text the pattern could change always holds one, in any ASCII case:
   * `redactWellKnown` runs the pattern only on a text that does. One pass over a text for all of
   * them rules most texts out.
   */
  needs: readonly string[];
  apply: (s: string, note: (kind: string) => void) => string;
}

type Replacer = (m: string, g: Array<string | undefined>, offset: number, s: string) => string | null;

/** A regex-based recogniser; `build` returns the replacement, or null to leave the match alone. */
function rx(kind: string, re: RegExp, needs: readonly string[], build?: Replacer): WellKnown {
  return {
    kind,
    needs,
    apply: (s, note) =>
      s.replace(re, (m: string, ...rest: unknown[]) => {
        // String.prototype.replace passes (match, ...groups, offset, string[, namedGroups]).
        const at = rest.findIndex((x) => typeof x === 'number');
        const out = build
          ? build(m, rest.slice(0, at) as Array<string | undefined>, rest[at] as number, s)
          : marker(kind);
        if (out === null) return m;
        note(kind);
        return out;
      }),
  };
}

function privateKeyBlocks(s: string, note: (kind: string) => void): string {
  let out = '';
  let last = 0;
  let from = 0;
  for (;;) {
    const begin = s.indexOf('-----BEGIN ', from);
    if (begin < 0) break;
    const labelEnd = s.indexOf('-----', begin + 11);
    if (labelEnd < 0) break;
    if (labelEnd - begin > 80 || !s.slice(begin + 11, labelEnd).includes('PRIVATE KEY')) {
      from = begin + 11;
      continue;
    }
    // A block without an END line (e.g. a truncated log line) is redacted to the end of the text.
    const endAt = s.indexOf('-----END ', labelEnd + 5);
    const endLine = endAt < 0 ? -1 : s.indexOf('-----', endAt + 9);
    const stop = endLine < 0 ? s.length : endLine + 5;
    out += s.slice(last, begin) + marker('private-key');
    note('private-key');
    last = from = stop;
  }
  return last === 0 ? s : out + s.slice(last);
}

const AUTH_HEADER_BEFORE = /authorization["']?\s{0,4}[:=]\s{0,4}["']?$/i;

/** `Bearer x` / `Basic x` outside an Authorization header only count when x looks like a credential. */
const schemeToken =
  (basic: boolean): Replacer =>
  (_m, g, offset, s) => {
    const [scheme, gap, token] = g as string[];
    const inHeader = AUTH_HEADER_BEFORE.test(s.slice(Math.max(0, offset - 40), offset));
    if (!inHeader) {
      if (basic && !Buffer.from(token, 'base64').toString('latin1').includes(':')) return null;
      if (!basic && !/\d/.test(token) && token.length < 24) return null; // "bearer authentication"
    }
    return `${scheme}${gap}${marker(basic ? 'basic-auth' : 'bearer-token')}`;
  };

const keyValue: Replacer = (_m, g) => {
  const [key, sep, quote, quoted, bare] = g;
  const value = quoted ?? bare ?? '';
  if (value.startsWith('[REDACTED:') || value.startsWith('[WITHHELD')) return null;
  return `${key}${sep}${quote ?? ''}${marker('key-value')}`;
};

/** Applied in this order, after secret values have been removed. */
export const WELL_KNOWN: WellKnown[] = [
  { kind: 'private-key', needs: ['-----BEGIN '], apply: privateKeyBlocks },
  rx('jwt', /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{2,16384}\.[A-Za-z0-9_-]{0,8192}/g, ['eyJ']),
  rx(
    'url-password',
    // scheme://user:password@ : keep scheme and user, redact the password (up to the last @ within
    // the bound). Anchored on the literal `://` (the scheme is kept anyway), so the engine can skip
    // ahead to it; user and password stop at `/`, so scans from two `://` never overlap.
    /:\/\/([^\s:@/?#]{0,256}):([^\s/?#]{1,512})@/g,
    ['://'],
    (_m, g) => `://${g[0]}:${marker('url-password')}@`,
  ),
  rx('aws-access-key', /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g, ['AKIA', 'ASIA']),
  rx(
    'aws-secret-key',
    /(aws[_-]?secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key|secret[_-]?access[_-]?key)(["']?\s{0,4}[:=]\s{0,4}["']?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/gi,
    ['secret'],
    (_m, g) => `${g[0]}${g[1]}${marker('aws-secret-key')}`,
  ),
  rx('github-token', /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,251}|github_pat_[A-Za-z0-9_]{22,244})/g, [
    'ghp_',
    'gho_',
    'ghu_',
    'ghs_',
    'ghr_',
    'github_pat_',
  ]),
  rx('slack-token', /(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,250}/g, ['xox']),
  rx('stripe-key', /(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}/g, [
    'sk_live_',
    'sk_test_',
    'rk_live_',
    'rk_test_',
  ]),
  rx('google-api-key', /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/g, ['AIza']),
  rx('openai-key', /(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{17,250}/g, ['sk-']),
  rx('bearer-token', /\b(Bearer)([ \t]{1,8})([A-Za-z0-9._~+/-]{6,4096}={0,2})/gi, ['bearer'], schemeToken(false)),
  rx('basic-auth', /\b(Basic)([ \t]{1,8})([A-Za-z0-9+/]{4,4096}={0,2})/gi, ['basic'], schemeToken(true)),
  rx(
    'key-value',
    // password=..., "secret": "...", TOKEN: ..., api-key=... in query strings, config, JSON text.
    // The key must start a word (db_password matches at `password`) and be followed by = or :.
    /(?<![A-Za-z0-9])(password|passwd|pwd|passphrase|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credentials?)(\\{0,3}["']?[ \t]{0,4}[=:][ \t]{0,4})(?:(\\{0,3}["'])([^\r\n"'\\]{1,2048})|([^\s&;,"'<>\\]{1,2048}))/gi,
    [
      'pass',
      'pwd',
      'secret',
      'token',
      'credential',
      ...['api', 'private', 'access'].flatMap((w) => [`${w}key`, `${w}_key`, `${w}-key`]),
    ],
    keyValue,
  ),
];

/**
 * Every pattern's needs in one automaton (ASCII case folded); a needle reports its pattern's bit.
 * Built on first use, not when the module loads: its construction's loops, run during a start, were
 * sometimes compiled by TurboFan on the way (on-stack replacement), and the optimising compiler's
 * code pages then stayed in the idle gateway's memory (about 5 MB of RSS; ADR 0014).
 */
let needs: Automaton | undefined;
const NEEDS = () =>
  (needs ??= new Automaton(
    WELL_KNOWN.flatMap((w, k) => w.needs.map((text) => ({ text: text.toLowerCase(), b64: false, bits: 1 << k }))),
    true,
  ));

/**
 * The last few long texts scanned and what the scan found. A call's arguments are scanned twice:
 * for credentials before they are forwarded (inspect-arguments) and again when its intent is
 * redacted for the audit trail; the second finds the same text here (a string compare, where the
 * scan of 1 KB costs several µs). Only the bits are derived from a text; texts past MEMO_MAX are not kept.
 */
const memoText: string[] = ['', '', '', ''];
const memoBits: number[] = [0, 0, 0, 0];
let memoNext = 0;

/** Bit k set: WELL_KNOWN[k] may match `s`. */
function mayMatch(s: string): number {
  const memo = s.length >= MEMO_MIN && s.length <= MEMO_MAX;
  if (memo) for (let i = 0; i < memoText.length; i++) if (memoText[i] === s) return memoBits[i];
  const wanted = NEEDS().bitsOf(s);
  if (memo) {
    memoText[memoNext] = s;
    memoBits[memoNext] = wanted;
    memoNext = (memoNext + 1) % memoText.length;
  }
  return wanted;
}

/**
 * `s` with the well-known formats replaced by markers (but not `except`), in WELL_KNOWN's order, each
 * one `note`d. Each pattern runs only where one of its `needs` occurs in the text it would be applied to (the
 * text is scanned again after a pattern changed it): a text with nothing like a secret costs one scan.
 */
export function redactWellKnown(s: string, note: (kind: string) => void, except?: string): string {
  let out = s;
  let wanted = mayMatch(out);
  for (let k = 0; k < WELL_KNOWN.length && wanted !== 0; k++) {
    const p = WELL_KNOWN[k];
    if ((wanted & (1 << k)) === 0 || p.kind === except) continue;
    const next = p.apply(out, note);
    if (next === out) continue;
    out = next;
    wanted = mayMatch(out) & ~((2 << k) - 1); // the patterns after this one, on the changed text
  }
  return out;
}

/**
 * `s` with the well-known formats its decoded view shows (./decoded-view.ts: a token percent- or
 * `\u`-escaped, in fullwidth letters, split by invisible marks) cut out, each `note`d: what
 * `redactWellKnown` does for what the text shows as it is (run that first). The view's changed part
 * (from the first to the last character the formats replaced) is mapped back to the original and
 * replaced by one marker (named `secret` when it took several kinds): two tokens in one text take
 * what lies between them with them, which only removes more. A text whose decoded view would pass
 * its bound (./decoded-view.ts: UNREAD) is replaced whole by `[REDACTED:not-inspectable]`.
 */
export function redactWellKnownDecoded(s: string, note: (kind: string) => void, except?: string): string {
  const decoded = decodedText(s);
  // Past the decoded reading's bound the text is not stored or shown: what it hides cannot be told.
  if (decoded === UNREAD) {
    note(NOT_INSPECTABLE);
    return marker(NOT_INSPECTABLE);
  }
  if (decoded === undefined || redactWellKnown(decoded, nothing, except) === decoded) return s;
  const view = decodedView(s);
  // One marker for the changed part: named by its kind, or `secret` when it took several.
  let first: string | undefined;
  const noteFirst = (kind: string) => {
    first = first === undefined || first === kind ? kind : 'secret';
    note(kind);
  };
  const v = view?.text ?? '';
  const red = view ? redactWellKnown(v, noteFirst, except) : v;
  if (!view || red === v || first === undefined) {
    redactWellKnown(decoded, note, except);
    return marker('secret');
  }
  let p = 0;
  while (p < v.length && v[p] === red[p]) p++;
  let q = 0;
  while (q < v.length - p && v[v.length - 1 - q] === red[red.length - 1 - q]) q++;
  if (v.length - q <= p) return marker(first); // no changed part to map back: take the whole text
  return s.slice(0, view.from[p]) + marker(first) + s.slice(view.to[v.length - q - 1]);
}

const nothing = () => {};
