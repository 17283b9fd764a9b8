/**
 * Globs for tool names and resource ids: `*` is any run of characters (possibly empty), `?` exactly
 * one character; everything else is literal. Namespaced tool names are flat strings, so there is no
 * `/`-aware `*` and no `**`. Every other character is escaped before it reaches RegExp, so a pattern
 * can never smuggle regex syntax (`github__.*` means a literal `.` followed by anything). The
 * resulting regexes are anchored and have no nested quantifiers; names and patterns are bounded
 * in length, so matching stays cheap.
 */
import type { Glob } from './model.ts';

/** Characters a tool-name glob may use: what MCP tool names use, plus the two wildcards. */
const TOOL_GLOB = /^[A-Za-z0-9_.\-/:*?]+$/;

/** Why `pattern` is not a valid tool glob, or undefined. */
export function toolGlobProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'empty pattern';
  if (pattern.length > 256) return 'pattern is longer than 256 characters';
  if (!TOOL_GLOB.test(pattern))
    return `invalid glob \`${pattern}\`: only letters, digits, \`_ . - / :\` and the wildcards \`*\` \`?\` are allowed`;
  if (pattern.includes('**'))
    return `invalid glob \`${pattern}\`: \`**\` has no meaning here (names are flat; use one \`*\`)`;
  return undefined;
}

/** Why `pattern` is not a valid resource glob (any printable text, wildcards `*` and `?`), or undefined. */
export function resourceGlobProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'empty pattern';
  if (pattern.length > 1024) return 'pattern is longer than 1024 characters';
  if (/[\p{Cc}\p{Cf}]/u.test(pattern)) return 'pattern contains control or invisible characters';
  if (pattern.includes('**')) return `invalid glob \`${pattern}\`: \`**\` has no meaning here (use one \`*\`)`;
  return undefined;
}

export function hasWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/**
 * Anchored matcher for a glob; the caller validated it. `i` for case-insensitive matching. It is a
 * RegExp (its `source` is the equivalent pattern, for display) whose `test` does not backtrack:
 * V8 would take O(n^k) on `a*b*c*d` against a long hostile value with k stars, so `test` matches the
 * literal runs between stars leftmost-first instead (greedy leftmost is exact for `*`), which is
 * linear in the value for `*` and O(value x run) for runs containing `?`.
 */
export function globRegExp(pattern: string, caseInsensitive = false): RegExp {
  let body = '';
  for (const ch of pattern) {
    if (ch === '*') body += '[^]*';
    else if (ch === '?') body += '[^]';
    else body += ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  return new GlobRegExp(`^${body}$`, caseInsensitive ? 'ui' : 'u', pattern, caseInsensitive);
}

/** One code point per element; case folded per code point when asked (length kept, like RegExp `ui`). */
function codePoints(s: string, fold: boolean): string[] {
  const out = Array.from(s);
  if (fold)
    for (let i = 0; i < out.length; i++) {
      const l = out[i].toLowerCase();
      if (l.length === out[i].length) out[i] = l;
    }
  return out;
}

/** Does `run` (code points, `?` = any one) match `v` at `at`? */
function runAt(v: string[], at: number, run: string[]): boolean {
  if (at + run.length > v.length) return false;
  for (let j = 0; j < run.length; j++) if (run[j] !== '?' && run[j] !== v[at + j]) return false;
  return true;
}

export function linearGlobTest(pattern: string, value: string, caseInsensitive = false): boolean {
  const runs = pattern.split('*').map((r) => codePoints(r, caseInsensitive));
  const v = codePoints(value, caseInsensitive);
  if (runs.length === 1) return v.length === runs[0].length && runAt(v, 0, runs[0]);
  const first = runs[0];
  const last = runs[runs.length - 1];
  if (first.length + last.length > v.length || !runAt(v, 0, first) || !runAt(v, v.length - last.length, last))
    return false;
  let pos = first.length;
  const end = v.length - last.length;
  for (let r = 1; r < runs.length - 1; r++) {
    const run = runs[r];
    let at = pos;
    while (at + run.length <= end && !runAt(v, at, run)) at++;
    if (at + run.length > end) return false;
    pos = at + run.length;
  }
  return true;
}

class GlobRegExp extends RegExp {
  readonly #glob: string;
  readonly #ci: boolean;
  constructor(source: string, flags: string, glob: string, ci: boolean) {
    super(source, flags);
    this.#glob = glob;
    this.#ci = ci;
  }
  override test(value: string): boolean {
    return linearGlobTest(this.#glob, String(value), this.#ci);
  }
}

export function compileGlob(pattern: string): Glob {
  return Object.freeze({ source: pattern, literal: !hasWildcard(pattern), re: globRegExp(pattern) });
}

export function globMatches(glob: Glob, name: string): boolean {
  return glob.literal ? glob.source === name : glob.re.test(name);
}
