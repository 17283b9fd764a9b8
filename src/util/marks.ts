/**
 * Characters an approver must SEE, made visible as `⟨U+202E⟩` markers (plain text: every renderer
 * escapes it for its own context). Nothing is stripped: a spoofing attempt shows.
 *
 * `visible()` for any text (argument values, summaries, diffs): ordinary text in any language stays
 * as it is; what renders as nothing, as a blank or as something else is marked. `identifier()` for
 * what names the thing acted on (a target, a path, a tool, a server, a person): every character
 * outside printable ASCII is shown with its code point, so `/data/а.txt` (Cyrillic а) never reads as
 * `/data/a.txt`; `outsideAscii()` says when a page should say so.
 */

/**
 * Hidden or misleading code points, each marked: controls (C0 but \n \t, DEL, C1), format characters
 * (bidi controls, zero-width, tags), lone surrogates, line and paragraph separators, every Unicode
 * space but the ASCII one (U+00A0, U+2003, U+3000: blank lines and padding that read as nothing),
 * blanks that are letters or symbols (Hangul fillers, U+2800 braille blank), the combining grapheme
 * joiner and the variation selectors (U+FE0F alone is handled apart: it follows most emoji).
 */
const HIDDEN_CLASS =
  '[\\p{Cc}\\p{Cf}\\p{Cs}\\p{Zl}\\p{Zp}\\p{Zs}\\u034F\\u115F\\u1160\\u180B-\\u180D\\u180F\\u2800\\u3164\\uFFA0\\uFE00-\\uFE0E\\u{E0100}-\\u{E01EF}]';

/** More combining marks on one character than any script writes (four: Vietnamese two, Hebrew or Tibetan up to four). */
const MAX_MARKS = 4;

/** A run that long is counted and summarised rather than marked one by one. */
const MARKS_LISTED = 16;

/** A run of too many combining marks; a run of one hidden character (kept `\n`, `\t` and ` ` aside); a lone U+FE0F. */
const MARKED = new RegExp(`(\\p{M}{${MAX_MARKS + 1},})|(?![\\n\\t ])(${HIDDEN_CLASS})\\2*|\\uFE0F`, 'gu');

const PICTOGRAPHIC = /\p{Extended_Pictographic}/u;

const hex = (ch: string): string => (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');

/** `⟨U+3000⟩`, or `⟨U+3000 ×500⟩` for a run of it. */
function marker(ch: string, count = 1): string {
  return `⟨U+${hex(ch)}${count > 1 ? ` ×${count}` : ''}⟩`;
}

/** Runs of one code point as one counted marker each. */
function runsMarked(chars: readonly string[]): string {
  let out = '';
  for (let i = 0; i < chars.length; ) {
    let j = i + 1;
    while (j < chars.length && chars[j] === chars[i]) j++;
    out += marker(chars[i], j - i);
    i = j;
  }
  return out;
}

/** Combining marks stacked past what any script writes: each marked, or counted when many. */
function marksRun(run: string): string {
  const chars = Array.from(run);
  if (chars.length <= MARKS_LISTED) return runsMarked(chars);
  const kinds = [...new Set(chars)];
  const listed = kinds.slice(0, 8).map((c) => `U+${hex(c)}`);
  return `⟨${chars.length} combining marks: ${listed.join(' ')}${kinds.length > 8 ? ' …' : ''}⟩`;
}

/** U+FE0F asks for an emoji's picture: left as it is after an emoji or in a keycap (`1️⃣`), marked anywhere else. */
function selectsEmoji(all: string, at: number): boolean {
  const before = Array.from(all.slice(Math.max(0, at - 2), at)).at(-1) ?? '';
  return PICTOGRAPHIC.test(before) || (/[#*0-9]/.test(before) && all[at + 1] === '\u20E3');
}

/**
 * Hidden characters as `⟨U+202E⟩` markers (a run of one as `⟨U+3000 ×12⟩`); more than four combining
 * marks on one character marked (or counted, past sixteen); U+FE0F marked unless it follows an emoji.
 * `\n`, `\t` and ordinary text in any script are kept. Idempotent: the markers are visible characters.
 */
export function visible(text: string): string {
  return text.replace(MARKED, (m: string, marks: string | undefined, _one: string | undefined, at: number) => {
    if (marks) return marksRun(marks);
    if (m === '\uFE0F') return selectsEmoji(text, at) ? m : marker(m);
    return runsMarked(Array.from(m));
  });
}

/**
 * For text that must stay on one line (a summary, a title, a name): line breaks are made visible too,
 * so a newline in a title can never start what looks like a line of the page's own.
 */
export function oneLine(text: string): string {
  return visible(text).replace(/[\n\t]/g, (ch) => marker(ch));
}

/** Printable ASCII: what an identifier shows as it is. */
const OUTSIDE_ASCII = /[^\x20-\x7E]/u;

/** Characters that show a glyph of their own (next to which the code point is written). */
const SHOWS_ITSELF = /^[\p{L}\p{N}\p{P}\p{S}]$/u;

/**
 * A name of what is acted on (a target, a path, a tool, a server, a person), on one line: every
 * character outside printable ASCII followed by its code point (`а⟨U+0430⟩`), or only the code point
 * when it shows no glyph of its own (a space, a combining mark, a hidden character; runs counted), so
 * that look-alikes from other scripts can be told apart. Not idempotent: apply once, to the raw name.
 */
export function identifier(text: string): string {
  return text.replace(/([^\x20-\x7E])\1*/gu, (run: string, ch: string) => {
    const chars = Array.from(run);
    return SHOWS_ITSELF.test(ch) ? chars.map((c) => `${c}${marker(c)}`).join('') : marker(ch, chars.length);
  });
}

/** Whether a name holds a character outside printable ASCII (a look-alike is possible). */
export function outsideAscii(text: string): boolean {
  return OUTSIDE_ASCII.test(text);
}

/** What a page or the CLI says of the names (`the target`, `the tool`) that hold such characters. */
export function outsideAsciiNotice(which: readonly string[]): string {
  const names = which.length === 1 ? which[0] : `${which.slice(0, -1).join(', ')} and ${which.at(-1)}`;
  return `The ${names} ${which.length === 1 ? 'contains' : 'contain'} characters outside ASCII: look-alikes possible (each is shown with its code point).`;
}
