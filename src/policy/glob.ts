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
  if (!TOOL_GLOB.test(pattern)) return `invalid glob \`${pattern}\`: only letters, digits, \`_ . - / :\` and the wildcards \`*\` \`?\` are allowed`;
  if (pattern.includes('**')) return `invalid glob \`${pattern}\`: \`**\` has no meaning here (names are flat; use one \`*\`)`;
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

/** Anchored regex for a glob; the caller validated it. `i` for case-insensitive matching. */
export function globRegExp(pattern: string, caseInsensitive = false): RegExp {
  let body = '';
  for (const ch of pattern) {
    if (ch === '*') body += '[^]*';
    else if (ch === '?') body += '[^]';
    else body += ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  return new RegExp(`^${body}$`, caseInsensitive ? 'ui' : 'u');
}

export function compileGlob(pattern: string): Glob {
  return Object.freeze({ source: pattern, literal: !hasWildcard(pattern), re: globRegExp(pattern) });
}

export function globMatches(glob: Glob, name: string): boolean {
  return glob.literal ? glob.source === name : glob.re.test(name);
}
