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

const indentOf = (line: string) => /^[ \t]*/.exec(line)?.[0].length ?? 0;

/**
 * Where a YAML syntax error is said: the parser places some (a line indented one space too far or
 * too short: "all mapping items must start at the same column") at the start of the line, column
 * 1, where nothing is wrong; within a line's leading spaces it is the first character after them.
 */
function syntaxOffset(text: string, offset: number): number {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  if (!/^[ \t]*$/.test(text.slice(start, offset))) return offset;
  const first = start + indentOf(text.slice(start));
  return first > offset && text[first] !== '\n' && first < text.length ? first : offset;
}

/**
 * A key line indented further than the key line above it (`transport: stdio` then `␣command: x`):
 * the parser reads it as part of the value above and complains there, at the end of that line. The
 * offset of the deeper line's first character and the key above, or undefined when it is not that.
 */
function deeperLine(text: string, offset: number): { offset: number; above: string } | undefined {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  const end = text.indexOf('\n', offset);
  if (end < 0) return undefined;
  const above = text.slice(start, end);
  const nextEnd = text.indexOf('\n', end + 1);
  const next = text.slice(end + 1, nextEnd < 0 ? undefined : nextEnd);
  const key = /^[ \t]*(?:- )?([^\s#:][^:]*):/.exec(above)?.[1];
  if (!key || !/^[ \t]*[^\s#-][^:]*:(\s|$)/.test(next) || indentOf(next) <= indentOf(above)) return undefined;
  return { offset: end + 1 + indentOf(next), above: key.trim() };
}

/** A YAML syntax error as said in the config's and the policy files' errors: where, and what. */
export function syntaxError(
  text: string,
  e: { code: string; message: string; pos: [number, number] },
): { offset: number; message: string } {
  if (e.code === 'MULTIPLE_DOCS')
    return { offset: e.pos[0], message: 'only one YAML document is allowed (found a second `---`)' };
  const deeper = e.code === 'BLOCK_AS_IMPLICIT_KEY' ? deeperLine(text, e.pos[0]) : undefined;
  if (deeper)
    return {
      offset: deeper.offset,
      message: `this line is indented further than \`${deeper.above}\` above it, so it reads as part of that value: line it up with the keys beside it`,
    };
  return { offset: syntaxOffset(text, e.pos[0]), message: sentence(e.message) };
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
