/**
 * A second reading of a text with its simple encodings undone, for the secret finders
 * (./secret-patterns.ts: SecretMatcher and redactWellKnownDecoded; ../credentials/scrub.ts:
 * SecretScrubber.find). The matcher knows each secret's encoded forms that are a function of the
 * secret alone (base64, hex, UTF-16, JSON-escaped, URL-encoded as encoders write it); what a writer
 * may mix at will is undone here instead: percent escapes of any byte (`canary%2Dtb%2D…`, some
 * characters escaped and some not), `\uXXXX`, `\u{X}`, `\xXX` and `\\` written as text, HTML numeric
 * references (`&#99;`, `&#x63;`), compatibility look-alikes (fullwidth letters, mathematical
 * alphanumerics, ligatures: NFKD), and runs of characters that show nothing (zero-width, format
 * characters, combining marks, lone surrogates) inside a run of printable ASCII. The view is only
 * looked at, never forwarded; `decodedView` says for each of its characters where in the original
 * it came from, so a secret found in it is cut out of the original.
 *
 * Bounded: at most ROUNDS rounds (an escape of an escape: `%5Cu0063`, `\\u0063`, `％４３`), each linear
 * in its text. Escapes and invisible runs only shrink a text; NFKD grows one character to up to 18
 * (U+FDFA), so a reading is made only up to `boundOf` characters (four times the text, at least 16K,
 * at most 4M) and, within `withDecodeBudget`, up to what the walk has left (one request or record):
 * NFKD is made a chunk at a time, each chunk small enough that its output cannot pass what is left,
 * so no more than the bound is ever made. Past it the reading is UNREAD and each finder decides what
 * that means: the outbound check refuses the text as not inspectable, the redactors take it whole
 * (docs/policy.md). Before, 3 MB of U+FDFA made 18.9M characters and their maps: 1.3 GB and
 * seconds of a blocked event loop. A text without a marker (`%`, `\`, `&#`, a
 * character outside ASCII) has no view: native searches decide (about 0.3 µs for 1 KB), so plain
 * ASCII costs what it did. Not undone (no bounded reading can): base64 of base64, compression,
 * encryption, any transform of the caller's choosing (docs/policy.md says so).
 */

const NOT_ASCII = /[\u0080-\uffff]/;
/** Escapes `decodeEscapes` undoes: a run of byte escapes (read as UTF-8 together), or one character's. */
const ESCAPE =
  /(?:%[0-9A-Fa-f]{2}|\\x[0-9A-Fa-f]{2})+|\\u[0-9A-Fa-f]{4}|\\u\{[0-9A-Fa-f]{1,6}\}|\\[\\/"]|&#[xX][0-9A-Fa-f]{1,6};?|&#[0-9]{1,7};?/g;
/**
 * A run of characters that show nothing or nothing of their own between two printable ASCII ones,
 * where no text but a split token has them: default-ignorable code points (zero-width characters,
 * variation selectors, U+034F), format characters, combining marks (Mn, Me), and lone UTF-16
 * surrogates (Cs). `ghp_…` or `AKIA…` split by one reads as the token to whoever shows it. (Moved
 * here from ../credentials/scrub.ts. The class is slow to test, so a position with an ASCII character
 * is ruled out before it: 8 µs for 1 KB of text with characters outside ASCII instead of 11.)
 */
const HIDING =
  /(?<=[\x21-\x7e])(?=[\u0080-\u{10ffff}])[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Mn}\p{Me}\p{Cs}]+(?=[\x21-\x7e])/gu;
const ROUNDS = 3;
/** NFKD makes one UTF-16 code unit at most this many (U+FDFA). */
const MOST = 18;
const GROWTH = 4;
const FLOOR = 16 * 1024;
const DECODED_MAX = 4 * 1024 * 1024;

/** A text whose decoded reading would pass its bound: not made. */
export const UNREAD: unique symbol = Symbol('unread');
export type Decoded = string | undefined | typeof UNREAD;

/**
 * The most a text of `n` characters may read as decoded: four times it (Korean, NFKD's largest
 * ordinary growth, is three), at least 16K (a short text of ligatures), at most 4M characters.
 */
export const boundOf = (n: number): number => Math.min(DECODED_MAX, Math.max(FLOOR, GROWTH * n));

/** What the decoded readings of the current walk may still make (characters). */
let budget = Number.POSITIVE_INFINITY;
/** Characters the decoded readings made since the process started (NFKD output and escapes undone): tests count work with it. */
let made = 0;
export const decodedMade = (): number => made;

/**
 * `f` with every decoded reading made inside it sharing one bound: twice the largest text's (8M
 * characters), so a request or record of many texts that each grow to their bound is bounded as a
 * whole (700K one-character strings of U+FDFA, 4 MiB, would read as 12.6M). A text read after the
 * walk's budget is spent is UNREAD. Nested calls share the outer one's.
 */
export function withDecodeBudget<T>(f: () => T): T {
  if (budget !== Number.POSITIVE_INFINITY) return f();
  budget = 2 * DECODED_MAX;
  try {
    return f();
  } finally {
    budget = Number.POSITIVE_INFINITY;
  }
}

/**
 * False when the decoding cannot change `s`: no `%`, `\`, `&#`, nor a character outside ASCII (UTF-8
 * longer than the text). Native searches, about 0.3 µs for 1 KB where a regex class takes 1.5.
 */
function hasMarkers(s: string): boolean {
  return s.includes('%') || s.includes('\\') || s.includes('&#') || Buffer.byteLength(s, 'utf8') !== s.length;
}

export interface DecodedView {
  readonly text: string;
  /** The view's character j came from the original text's [from[j], to[j]). */
  readonly from: Int32Array;
  readonly to: Int32Array;
}

/** The last text asked about and its decoded text: the finders ask for a text's twice (values, formats). */
let lastText = '';
let lastDecoded: Decoded;

/**
 * `s` with its escapes undone and its look-alikes folded, when that changes it; undefined otherwise;
 * UNREAD when that would pass its bound (`boundOf`, or what the walk's budget has left). Text only
 * (native replaces and NFKD, no map): what the finders search first. Where it holds something,
 * `decodedView` says where in `s` that came from.
 */
export function decodedText(s: string): Decoded {
  if (s === lastText) return lastDecoded;
  if (!hasMarkers(s)) return remember(s, undefined);
  const own = boundOf(s.length);
  const limit = Math.min(own, budget);
  const decoded = decode(s, limit);
  if (typeof decoded === 'string') budget -= decoded.length;
  else if (decoded === UNREAD) budget -= limit;
  // Unread for want of the walk's budget is no answer about the text itself: not remembered.
  return decoded === UNREAD && limit < own ? decoded : remember(s, decoded);
}

function remember(s: string, decoded: Decoded): Decoded {
  // Any length: the finders ask for a long text's twice too, and what is kept is bounded (one text
  // and a reading of at most 4M characters, until the next text).
  lastText = s;
  lastDecoded = decoded;
  return decoded;
}

function decode(s: string, limit: number): Decoded {
  let t = s;
  let fold = NOT_ASCII.test(t);
  for (let round = 0; round < ROUNDS; round++) {
    let changed = false;
    if (hasEscapes(t)) {
      const d = t.replace(ESCAPE, decodeMatch);
      if (d !== t) {
        t = d;
        changed = true;
        fold ||= NOT_ASCII.test(t);
      }
    }
    if (fold) {
      fold = false;
      // NFKD, not NFKC: `e` and U+0301 stay two characters, and the mark goes as one that hides.
      const n = foldBounded(t, limit);
      if (n === undefined) return UNREAD;
      const f = n.replace(HIDING, '');
      if (f !== t) {
        t = f;
        changed = true;
      }
    }
    if (!changed || !hasEscapes(t)) break;
  }
  return t === s ? undefined : t;
}

/**
 * NFKD of `t`, or undefined when it would pass `limit` characters or any prefix of `t` would read as
 * more than GROWTH times itself plus FLOOR: in one go when even all of it at the most growth stays
 * within (every text up to about 1,100 characters), else a chunk at a time, each small enough that
 * its NFKD cannot pass either, so no more is made than the bound (3 MB of U+FDFA stops after 21K
 * characters made). A chunk ends before a character below U+0300 where there is one near (a
 * starter: NFKD reorders only runs of marks), else never inside a surrogate pair.
 */
function foldBounded(t: string, limit: number): string | undefined {
  if (t.length * MOST <= limit && t.length * (MOST - GROWTH) <= FLOOR) {
    const f = t.normalize('NFKD');
    made += f.length;
    return f;
  }
  let out = '';
  for (let i = 0; i < t.length; ) {
    const prefix = (GROWTH * i + FLOOR - out.length) / (MOST - GROWTH);
    const n = Math.floor(Math.min(prefix, (limit - out.length) / MOST));
    if (n < 1) return undefined;
    const end = chunkEnd(t, i, Math.min(t.length, i + n));
    const f = t.slice(i, end).normalize('NFKD');
    made += f.length;
    out += f;
    if (out.length > limit || out.length > GROWTH * end + FLOOR) return undefined;
    i = end;
  }
  return out;
}

function chunkEnd(t: string, i: number, end: number): number {
  if (end >= t.length) return t.length;
  for (let p = end; p > i && p > end - 64; p--) if (t.charCodeAt(p) < 0x300) return p;
  const c = t.charCodeAt(end);
  if (c < 0xdc00 || c > 0xdfff) return end;
  return end - 1 > i ? end - 1 : end + 1;
}

const hasEscapes = (t: string) => t.includes('%') || t.includes('\\') || t.includes('&#');

/**
 * The decoded text with, per character, where in `s` it came from: made only for a text whose decoded
 * text holds a find (rare), in walks of its own, the same steps as `decodedText`'s (NFKD one character
 * at a time: the marks' order may differ, which matters only to a value with marks of its own; a
 * finder that no longer finds there takes the whole text).
 */
export function decodedView(s: string): DecodedView | undefined {
  if (!hasMarkers(s)) return undefined;
  let text = s;
  let from: Int32Array | undefined;
  let to: Int32Array | undefined;
  const apply = (out: Out | undefined): boolean => {
    if (!out) return false;
    // Compose: the view's character j came from the step input's [out.from[j], out.to[j]).
    const f = new Int32Array(out.length);
    const t = new Int32Array(out.length);
    for (let j = 0; j < out.length; j++) {
      f[j] = from ? from[out.from[j]] : out.from[j];
      t[j] = to ? to[out.to[j] - 1] : out.to[j];
    }
    text = out.text;
    from = f;
    to = t;
    return true;
  };
  let fold = NOT_ASCII.test(text);
  for (let round = 0; round < ROUNDS; round++) {
    let changed = false;
    if (apply(decodeEscapes(text))) {
      changed = true;
      fold ||= NOT_ASCII.test(text);
    }
    if (fold) {
      fold = false;
      const a = apply(decompose(text));
      const b = apply(unhide(text));
      changed ||= a || b;
    }
    if (!changed || !hasEscapes(text)) break;
  }
  return from && to && text !== s ? { text, from, to } : undefined;
}

/**
 * One step's output: the text and, per character, the range of the step's input it came from. The
 * map is two typed arrays grown by doubling (4 bytes a character each, where arrays of numbers took
 * 8 and a push per character), the text its pieces joined once.
 */
class Out {
  #parts: string[] = [];
  length = 0;
  from = new Int32Array(64);
  to = new Int32Array(64);
  get text(): string {
    if (this.#parts.length > 1) this.#parts = [this.#parts.join('')];
    return this.#parts[0] ?? '';
  }
  #room(k: number): void {
    if (this.length + k <= this.from.length) return;
    const size = Math.max(2 * this.from.length, this.length + k);
    const from = new Int32Array(size);
    const to = new Int32Array(size);
    from.set(this.from.subarray(0, this.length));
    to.set(this.to.subarray(0, this.length));
    this.from = from;
    this.to = to;
  }
  push(t: string, a: number, b: number): void {
    this.#parts.push(t);
    this.#room(t.length);
    this.from.fill(a, this.length, this.length + t.length);
    this.to.fill(b, this.length, this.length + t.length);
    this.length += t.length;
  }
  /** `src[a, b)` unchanged, each character from itself. */
  copy(src: string, a: number, b: number): void {
    if (b <= a) return;
    this.#parts.push(src.slice(a, b));
    this.#room(b - a);
    for (let k = a; k < b; k++) {
      this.from[this.length] = k;
      this.to[this.length++] = k + 1;
    }
  }
}

const hexDigit = (c: number): number => {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
};

/** The value of `n` hex digits at s[i], or -1. */
function hexAt(s: string, i: number, n: number): number {
  if (i + n > s.length) return -1;
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = hexDigit(s.charCodeAt(i + k));
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** A byte escape at s[i] (`%HH`, `\xHH`): [byte, length], or undefined. */
function byteAt(s: string, i: number): [number, number] | undefined {
  const c = s.charCodeAt(i);
  if (c === 37) {
    const b = hexAt(s, i + 1, 2);
    return b < 0 ? undefined : [b, 3];
  }
  if (c === 92 && s.charCodeAt(i + 1) === 120) {
    const b = hexAt(s, i + 2, 2);
    return b < 0 ? undefined : [b, 4];
  }
  return undefined;
}

/** A character escape at s[i] (`\uHHHH`, `\u{H…}`, `\\`, `\/`, `\"`, `&#N;`, `&#xH;`): [text, length], or undefined. */
function charAt(s: string, i: number): [string, number] | undefined {
  const c = s.charCodeAt(i);
  if (c === 92) {
    const n = s.charCodeAt(i + 1);
    if (n === 92 || n === 47 || n === 34) return [s[i + 1], 2];
    if (n !== 117) return undefined;
    const u = hexAt(s, i + 2, 4);
    if (u >= 0) return [String.fromCharCode(u), 6];
    if (s.charCodeAt(i + 2) !== 123) return undefined;
    let close = i + 3;
    while (close < s.length && close - i - 3 <= 6 && s.charCodeAt(close) !== 125) close++;
    if (s.charCodeAt(close) !== 125 || close - i - 3 < 1 || close - i - 3 > 6) return undefined;
    const cp = hexAt(s, i + 3, close - i - 3);
    return cp >= 0 && cp <= 0x10ffff ? [String.fromCodePoint(cp), close + 1 - i] : undefined;
  }
  if (c === 38 && s.charCodeAt(i + 1) === 35) return htmlAt(s, i);
  return undefined;
}

/** An HTML numeric character reference at s[i] (`&#99;`, `&#x63;`, the `;` optional). */
function htmlAt(s: string, i: number): [string, number] | undefined {
  const hex = (s.charCodeAt(i + 2) | 32) === 120;
  let j = i + (hex ? 3 : 2);
  let cp = 0;
  const start = j;
  for (; j < s.length && j - start < (hex ? 6 : 7); j++) {
    const d = hex ? hexDigit(s.charCodeAt(j)) : s.charCodeAt(j) - 48;
    if (d < 0 || d > (hex ? 15 : 9)) break;
    cp = cp * (hex ? 16 : 10) + d;
  }
  if (j === start || cp > 0x10ffff) return undefined;
  if (s[j] === ';') j++;
  return [String.fromCodePoint(cp), j - i];
}

/** The length of the UTF-8 sequence a lead byte starts (0: not a lead byte). */
function utf8Length(b: number): number {
  if (b < 0x80) return 1;
  if (b < 0xc2) return 0;
  if (b < 0xe0) return 2;
  if (b < 0xf0) return 3;
  return b < 0xf5 ? 4 : 0;
}

/**
 * A run of byte escapes at s[i], read as UTF-8 (what percent-encoding and `\x` carry); a byte that
 * starts no valid sequence stays as it was written. Returns where the run ends.
 */
function bytesAt(s: string, i: number, out: Out): number {
  const bytes: number[] = [];
  const at: number[] = [];
  let j = i;
  for (let b = byteAt(s, j); b; b = byteAt(s, j)) {
    bytes.push(b[0]);
    at.push(j);
    j += b[1];
  }
  at.push(j);
  for (let k = 0; k < bytes.length; ) {
    const n = utf8Length(bytes[k]);
    let cp = -1;
    if (n === 1) cp = bytes[k];
    else if (n) cp = bytes[k] & (0xff >> (n + 1));
    for (let m = 1; m < n && cp >= 0; m++) {
      const b = bytes[k + m];
      cp = b !== undefined && (b & 0xc0) === 0x80 ? (cp << 6) | (b & 0x3f) : -1;
    }
    if (cp >= 0 && cp <= 0x10ffff) {
      out.push(String.fromCodePoint(cp), at[k], at[k + n]);
      k += n;
    } else {
      out.copy(s, at[k], at[k + 1]);
      k++;
    }
  }
  return j;
}

/** What one ESCAPE match stands for (the fast path's replacer): the same reading as `decodeEscapes`. */
function decodeMatch(m: string): string {
  // Most escapes are one ASCII character's (`%2D`, `\x2d`): no walk.
  const last = m.length - 2;
  const one = (m.length === 3 && m.charCodeAt(0) === 37) || (m.length === 4 && m.charCodeAt(1) === 120);
  if (one) {
    const b = hexAt(m, last, 2);
    if (b < 0x80) return String.fromCharCode(b);
  }
  if (byteAt(m, 0)) {
    const out = new Out();
    bytesAt(m, 0, out);
    return out.text;
  }
  return charAt(m, 0)?.[0] ?? m;
}

/** `s` with percent, `\x`, `\u`, `\\` and HTML numeric escapes undone; undefined when it has none. */
function decodeEscapes(s: string): Out | undefined {
  if (!(s.includes('%') || s.includes('\\') || s.includes('&#'))) return undefined;
  const out = new Out();
  let plain = 0; // start of the run of characters not yet copied
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c !== 37 && c !== 92 && c !== 38) {
      i++;
      continue;
    }
    const ch = byteAt(s, i) ? undefined : charAt(s, i);
    if (!ch && !byteAt(s, i)) {
      i++;
      continue;
    }
    out.copy(s, plain, i);
    if (ch) {
      out.push(ch[0], i, i + ch[1]);
      i += ch[1];
    } else i = bytesAt(s, i, out);
    plain = i;
  }
  out.copy(s, plain, s.length);
  return out.text === s ? undefined : out;
}

/** NFKD of one code point, null when it stays; remembered (bounded). */
const foldCache = new Map<number, string | null>();
function foldOf(cp: number): string | null {
  let f = foldCache.get(cp);
  if (f === undefined) {
    const ch = String.fromCodePoint(cp);
    const n = ch.normalize('NFKD');
    f = n === ch ? null : n;
    if (foldCache.size >= 4096) foldCache.clear();
    foldCache.set(cp, f);
  }
  return f;
}

/** `s` with every character outside ASCII decomposed (NFKD); undefined when that changes nothing. */
function decompose(s: string): Out | undefined {
  const out = new Out();
  let plain = 0;
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i) ?? 0;
    const n = cp > 0xffff ? 2 : 1;
    const f = cp < 0x80 ? null : foldOf(cp);
    if (f !== null) {
      out.copy(s, plain, i);
      out.push(f, i, i + n);
      plain = i + n;
    }
    i += n;
  }
  if (plain === 0) return undefined;
  out.copy(s, plain, s.length);
  return out;
}

/** `s` without the runs that hide a token (HIDING); undefined when it has none. */
function unhide(s: string): Out | undefined {
  const out = new Out();
  let plain = 0;
  for (const m of s.matchAll(HIDING)) {
    out.copy(s, plain, m.index);
    plain = m.index + m[0].length;
  }
  if (plain === 0) return undefined;
  out.copy(s, plain, s.length);
  return out;
}
