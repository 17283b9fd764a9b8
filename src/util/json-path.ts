/**
 * The JSON paths the redactor takes (src/audit/redact.ts), parsed; small on purpose:
 *   $                 the root
 *   .name  ['name']  ["name"]   an object key (exact, case-sensitive; no `]` inside brackets)
 *   [3]               an array index          .*  [*]   any key or index
 *   ..name  ..*  ..[*]  ..[0]   recursive descent: the selector at any depth below
 * e.g. `$.arguments.email`, `$.items[*].card`, `$..ssn`. Names match object keys only, indices
 * match array elements only. The config checks its paths with the same parser at load.
 */

export interface Step {
  desc: boolean;
  any: boolean;
  key?: string;
  index?: number;
}

/** A path not of the syntax above; `why` says where, without the path (the config names its key). */
class InvalidPath extends Error {
  readonly why: string;
  constructor(src: string, why: string, where: string) {
    super(`${where}invalid path ${JSON.stringify(src)}: ${why}`);
    this.why = why;
  }
}

/** Why `src` is not a path of the syntax above, or undefined: the config checks its paths at load. */
export function jsonPathProblem(src: string): string | undefined {
  try {
    parseJsonPath(src);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidPath) return err.why;
    throw err;
  }
}

export function parseJsonPath(src: string, where = ''): Step[] {
  const bad = (why: string) => new InvalidPath(src, why, where);
  if (typeof src !== 'string' || !src.startsWith('$')) throw bad('must start with $');
  const steps: Step[] = [];
  let i = 1;
  while (i < src.length) {
    let desc = false;
    if (src.startsWith('..', i)) {
      desc = true;
      i += 2;
    } else if (src[i] === '.') i += 1;
    else if (src[i] !== '[') throw bad(`unexpected ${JSON.stringify(src[i])} at ${i}`);
    if (src[i] === '[') {
      const close = src.indexOf(']', i);
      if (close < 0) throw bad(`unclosed [ at ${i}`);
      const inner = src.slice(i + 1, close);
      i = close + 1;
      if (inner === '*') steps.push({ desc, any: true });
      else if (/^\d{1,9}$/.test(inner)) steps.push({ desc, any: false, index: Number(inner) });
      else if (/^'[^']+'$|^"[^"]+"$/.test(inner)) steps.push({ desc, any: false, key: inner.slice(1, -1) });
      else throw bad(`bad selector [${inner}]`);
    } else {
      let j = i;
      while (j < src.length && src[j] !== '.' && src[j] !== '[' && src[j] !== ']') j++;
      if (j === i) throw bad(`empty name at ${i}`);
      const name = src.slice(i, j);
      steps.push(name === '*' ? { desc, any: true } : { desc, any: false, key: name });
      i = j;
    }
  }
  if (steps.length > 0xffff) throw bad('too long');
  return steps;
}
