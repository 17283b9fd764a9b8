/**
 * Name hygiene for everything an upstream names (tools, prompts): invisible and control characters,
 * mixed scripts (a Cyrillic `а` inside a Latin name) and look-alike collisions are refused, so a
 * caller or an operator never confuses one tool for another. Pure functions.
 */

// Control, format (zero-width, bidi, tag characters), separators other than plain ASCII space.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u115f\u1160\u3164\uffa0]/u;

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
