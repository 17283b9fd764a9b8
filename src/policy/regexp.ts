/**
 * Linear-time regular expressions for patterns Gatehouse did not write: `pattern` and
 * `patternProperties` in upstream input schemas, and anything else that comes from config or an
 * upstream. V8's engine backtracks (`^(\w+\s?)*$` doubles its time per character); RE2 (here its
 * pure-JavaScript port, re2js) runs in time linear in the input, with no backreferences or
 * lookarounds — a pattern that needs them does not compile, and the caller fails closed.
 *
 * Linear is not free: RE2's fallback NFA costs about (input length x program size) steps. Both are
 * bounded here, so the worst single test stays in the tens of milliseconds on a slow core instead
 * of seconds: a pattern may not be longer than MAX_PATTERN_CHARS nor compile to more than
 * MAX_PROGRAM_SIZE instructions, and a test whose input length times program size exceeds
 * MAX_WORK throws RegExpBudgetError (the caller refuses; it never guesses "matches").
 */
import { lazyRequire } from '../util/lazy.ts';

/** re2js (about 1.3 MB of memory once loaded) loads with the first pattern: most gateways compile none at start. */
const re2js = lazyRequire<typeof import('re2js')>('re2js');

export const REGEXP_LIMITS = { patternChars: 4_096, programSize: 5_000, work: 8_000_000 } as const;

/** Thrown by `test` when the input is too long to check against this pattern within the budget. */
export class RegExpBudgetError extends Error {
  readonly pattern: string;
  readonly inputLength: number;
  constructor(pattern: string, inputLength: number) {
    super(`a value of ${inputLength} characters is too long to check against the pattern \`${pattern.slice(0, 80)}\``);
    this.name = 'RegExpBudgetError';
    this.pattern = pattern;
    this.inputLength = inputLength;
  }
}

export type LinearRegExp = { readonly source: string; test(s: string): boolean; toString(): string };

/**
 * Compile a JavaScript-syntax pattern (as JSON Schema writes them) into a linear-time matcher.
 * `flags` accepts the JavaScript flags that have an RE2 meaning (`i`, `m`, `s`; `u` and `g` are
 * accepted and change nothing: RE2 always reads code points and `test` is stateless here).
 */
export function linearRegExp(pattern: string, flags = ''): LinearRegExp {
  if (pattern.length > REGEXP_LIMITS.patternChars)
    throw new Error(`pattern longer than ${REGEXP_LIMITS.patternChars} characters`);
  const { RE2JS } = re2js();
  let f = 0;
  for (const c of flags) {
    if (c === 'i') f |= RE2JS.CASE_INSENSITIVE;
    else if (c === 'm') f |= RE2JS.MULTILINE;
    else if (c === 's') f |= RE2JS.DOTALL;
    else if (c !== 'u' && c !== 'g' && c !== 'v') throw new Error(`unsupported regular expression flag \`${c}\``);
  }
  const re = RE2JS.compile(RE2JS.translateRegExp(pattern), f);
  const size = re.programSize();
  if (size > REGEXP_LIMITS.programSize)
    throw new Error(`pattern too complex (${size} instructions, at most ${REGEXP_LIMITS.programSize})`);
  const maxInput = Math.floor(REGEXP_LIMITS.work / Math.max(size, 1));
  return {
    source: pattern,
    // Ajv keys its per-instance pattern cache by toString(): without this every pattern would share one slot.
    toString: () => `/${pattern}/${flags}`,
    test(s: string): boolean {
      if (s.length > maxInput) throw new RegExpBudgetError(pattern, s.length);
      return re.test(s);
    },
  };
}

/** The engine in the shape Ajv's `code.regExp` option takes (`code` names it in standalone output). */
export const ajvRegExpEngine = Object.assign((pattern: string, flags: string) => linearRegExp(pattern, flags), {
  code: 'linearRegExp',
});
