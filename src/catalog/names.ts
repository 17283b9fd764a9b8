/**
 * Name hygiene for everything an upstream names (tools, prompts): invisible and control characters,
 * mixed scripts (a Cyrillic `а` inside a Latin name) and look-alike collisions are refused, so a
 * caller or an operator never confuses one tool for another. Pure functions.
 */

// Control, format (zero-width, bidi, tag characters), separators other than plain ASCII space.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u115f\u1160\u3164\uffa0]/u;

/** Names made only of these need none of the Unicode checks (most names: a catalogue's first listing runs them all). */
const PRINTABLE_ASCII = /^[ -~]+$/;

const SCRIPTS: Array<[string, RegExp]> = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Hebrew', /\p{Script=Hebrew}/u],
  ['Arabic', /\p{Script=Arabic}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
  ['Han', /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u],
  ['Hangul', /\p{Script=Hangul}/u],
];

/** Why a name is unacceptable, or undefined when it is fine. */
export function nameProblem(name: string, maxLength = 128): string | undefined {
  if (name.length === 0) return 'name is empty';
  if (name.length > maxLength) return `name is longer than ${maxLength} characters`;
  if (PRINTABLE_ASCII.test(name)) return undefined; // one script, no invisible character, already NFC
  if (INVISIBLE.test(name)) return 'name contains invisible or control characters';
  if (name !== name.normalize('NFC')) return 'name is not in unicode nfc form';
  const scripts = new Set<string>();
  for (const ch of name) {
    if (!/\p{L}/u.test(ch)) continue;
    const s = SCRIPTS.find(([, re]) => re.test(ch))?.[0] ?? 'Other';
    scripts.add(s);
  }
  if (scripts.size > 1) return `name mixes scripts (${[...scripts].sort().join(', ')})`;
  return undefined;
}

/**
 * A look-alike skeleton: names with the same skeleton are confusable. NFKC folds compatibility forms
 * (fullwidth letters, ligatures), case is folded, and separators that read alike are unified.
 */
export function skeleton(name: string): string {
  return name
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[-_.\s]+/g, '_')
    .replace(/[0o]/g, 'o')
    .replace(/[1il|]/g, 'l');
}

/**
 * Letters of other scripts that read as Latin ones (after Unicode's confusables data, UTS #39, for
 * the scripts tool names are attacked with). A name written wholly in one of these scripts, every
 * letter a look-alike, passes the mixed-script check yet reads as a Latin name: `раураl` in Cyrillic
 * is "paypal" to a person and a model alike.
 */
const LATIN_LOOKALIKES: Record<string, string> = {
  // Cyrillic
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ї: 'i',
  ј: 'j',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  һ: 'h',
  ӏ: 'l',
  ь: 'b',
  ɡ: 'g',
  ү: 'y',
  ӧ: 'o',
  ӓ: 'a',
  А: 'A',
  В: 'B',
  Е: 'E',
  К: 'K',
  М: 'M',
  Н: 'H',
  О: 'O',
  Р: 'P',
  С: 'C',
  Т: 'T',
  Х: 'X',
  У: 'Y',
  Ѕ: 'S',
  І: 'I',
  Ј: 'J',
  Ԁ: 'D',
  Ԛ: 'Q',
  Ԝ: 'W',
  Һ: 'H',
  Ӏ: 'I',
  // Greek
  α: 'a',
  ο: 'o',
  ν: 'v',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  ι: 'i',
  κ: 'k',
  χ: 'x',
  γ: 'y',
  ε: 'e',
  η: 'n',
  μ: 'u',
  ω: 'w',
  Α: 'A',
  Β: 'B',
  Ε: 'E',
  Ζ: 'Z',
  Η: 'H',
  Ι: 'I',
  Κ: 'K',
  Μ: 'M',
  Ν: 'N',
  Ο: 'O',
  Ρ: 'P',
  Τ: 'T',
  Υ: 'Y',
  Χ: 'X',
  // Armenian
  օ: 'o',
  ս: 'u',
  հ: 'h',
  ո: 'n',
  ց: 'g',
  զ: 'q',
  ա: 'w',
  ռ: 'n',
  Տ: 'S',
  Ս: 'U',
  Օ: 'O',
  // Cherokee (capital letters that look Latin)
  Ꭺ: 'A',
  Ᏼ: 'B',
  Ꮯ: 'C',
  Ꭰ: 'D',
  Ꭼ: 'E',
  Ꮐ: 'G',
  Ꮋ: 'H',
  Ꮖ: 'I',
  Ꭻ: 'J',
  Ꮶ: 'K',
  Ꮮ: 'L',
  Ꮇ: 'M',
  Ꮲ: 'P',
  Ꮪ: 'S',
  Ꭲ: 'T',
  Ꮩ: 'V',
  Ꮃ: 'W',
  Ꮓ: 'Z',
};

/**
 * When `name` is written in one script other than Latin and every letter in it is a Latin
 * look-alike: the Latin text it reads as (with its other characters kept), else undefined. Such a
 * name is not refused (it is one script, and may be honest) but flagged for an operator's review.
 */
export function wholeScriptConfusable(name: string): { script: string; reads: string } | undefined {
  let letters = 0;
  const scripts = new Set<string>();
  let reads = '';
  for (const ch of name.normalize('NFC')) {
    if (!/\p{L}/u.test(ch)) {
      reads += ch;
      continue;
    }
    letters++;
    const latin = LATIN_LOOKALIKES[ch];
    if (latin === undefined) return undefined;
    scripts.add(SCRIPTS.find(([, re]) => re.test(ch))?.[0] ?? 'Other');
    reads += latin;
  }
  if (letters < 2 || scripts.size !== 1 || scripts.has('Latin')) return undefined;
  return { script: [...scripts][0], reads };
}

/** Inventory items besides tools are stored under these prefixes (tool names with them are refused). */
const ITEM_PREFIXES = ['prompt:', 'resource:', 'template:'] as const;

export function isItemName(name: string): boolean {
  return ITEM_PREFIXES.some((p) => name.startsWith(p));
}
