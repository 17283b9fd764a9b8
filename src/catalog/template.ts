/**
 * Matching resource URIs against an upstream's RFC 6570 URI templates, safely. The template comes
 * from an upstream and the URI from a caller, so both are hostile: a template with several `{+x}`
 * expressions compiled to a backtracking RegExp let a 60 kB URI stop the event loop for seconds.
 * Here the template compiles to an RE2 program (linear in the URI, no backtracking), and both sizes
 * are bounded: a template longer than MAX_TEMPLATE_CHARS or with more than MAX_TEMPLATE_EXPRESSIONS
 * expressions never matches anything (the server's resources stay reachable by exact URI only), and
 * a URI longer than MAX_URI_CHARS matches no template.
 *
 * What an expression matches (the same as before): `{var}` one or more characters other than
 * `/ ? #` (possibly none); `{+var}`, `{#var}` and the other operators (`/ . ; ? &`) anything
 * except a line break.
 */
import type { RE2JS } from 're2js';
import { lazyRequire } from '../util/lazy.ts';

/** Loaded with the first template (src/policy/regexp.ts loads the same module for patterns). */
const re2js = lazyRequire<typeof import('re2js')>('re2js');

export const MAX_TEMPLATE_CHARS = 1_024;
export const MAX_TEMPLATE_EXPRESSIONS = 32;
export const MAX_URI_CHARS = 16_384;

export interface TemplateMatcher {
  readonly template: string;
  /** Why the template is never matched (too large, malformed), or undefined when it is usable. */
  readonly problem: string | undefined;
  /** Does the whole `uri` match the template? False for a URI longer than MAX_URI_CHARS. */
  test(uri: string): boolean;
}

function unusable(template: string, problem: string): TemplateMatcher {
  return { template, problem, test: () => false };
}

export function templateMatcher(template: string): TemplateMatcher {
  if (template.length > MAX_TEMPLATE_CHARS)
    return unusable(template, `template longer than ${MAX_TEMPLATE_CHARS} characters`);
  const { RE2JS: Re2 } = re2js();
  let re = '';
  let last = 0;
  let count = 0;
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (++count > MAX_TEMPLATE_EXPRESSIONS)
      return unusable(template, `more than ${MAX_TEMPLATE_EXPRESSIONS} expressions`);
    re += Re2.quote(template.slice(last, m.index));
    const op = m[1][0];
    re +=
      op === '+' || op === '#' || op === '/' || op === '.' || op === ';' || op === '?' || op === '&' ? '.*' : '[^/?#]*';
    last = (m.index ?? 0) + m[0].length;
  }
  re += Re2.quote(template.slice(last));
  let compiled: RE2JS;
  try {
    compiled = Re2.compile(re);
  } catch (err) {
    return unusable(template, `template cannot be compiled (${String((err as Error).message).slice(0, 100)})`);
  }
  return {
    template,
    problem: undefined,
    test: (uri: string) => typeof uri === 'string' && uri.length <= MAX_URI_CHARS && compiled.testExact(uri),
  };
}
