/**
 * Positions in YAML for error reports (`file:line:column: path: message`), shared by the config
 * loader and the policy reader so that both point at the same place for the same mistake.
 */
import { isMap, isScalar, type Document, type LineCounter, type Node } from 'yaml';

export type Path = Array<string | number>;

/** `a.b[0]["odd key"]`: the path as a reader of the YAML would write it. */
export function formatPath(path: Path): string {
  return path.map(pathStep).join('');
}

/** Step `i` of a path: `[0]` for an index, `.name` for a plain key (no dot first), `["odd key"]` for any other. */
function pathStep(p: string | number, i: number): string {
  if (typeof p === 'number') return `[${p}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(p) ? `${i ? '.' : ''}${p}` : `[${JSON.stringify(p)}]`;
}

/** 1-based line and column of a source offset. */
export function position(lc: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lc.linePos(offset);
  return { line, column: col };
}

/**
 * Where a YAML syntax error is said: the parser places some (a line indented one space too far or
 * too short: "all mapping items must start at the same column") at the start of the line, column
 * 1, where nothing is wrong; within a line's leading spaces it is the first character after them.
 */
export function syntaxOffset(text: string, offset: number): number {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  if (!/^[ \t]*$/.test(text.slice(start, offset))) return offset;
  const indent = /^[ \t]*/.exec(text.slice(start))?.[0].length ?? 0;
  const first = start + indent;
  return first > offset && text[first] !== '\n' && first < text.length ? first : offset;
}

/** The node at `path`, if there is one. */
export function nodeAt(doc: Document, path: Path): Node | undefined {
  const n: unknown = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return n && typeof n === 'object' && 'range' in n ? (n as Node) : undefined;
}

/** The node at `path`, or its nearest existing ancestor (a missing key is reported at its parent). */
export function nearest(doc: Document, path: Path): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = nodeAt(doc, path.slice(0, n));
    if (node) return node;
  }
  return undefined;
}

/** The node of the key `key` in the mapping at `path` (unknown and duplicate keys are reported there). */
export function keyNode(doc: Document, path: Path, key: string): Node | undefined {
  const map = nodeAt(doc, path);
  const pair = isMap(map) ? map.items.find((p) => isScalar(p.key) && String(p.key.value) === key) : undefined;
  return (pair?.key as Node | undefined) ?? undefined;
}

/** A YAML library message as ours: first line only, no position, lowercase start, no final period. */
export function sentence(message: string): string {
  const first = message
    .split('\n')[0]
    .replace(/ at line \d+, column \d+.*$/, '')
    .replace(/[.:]$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}
