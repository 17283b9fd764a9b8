/**
 * Reading policy YAML with positions, so that every problem is reported as `file:line:column: path:
 * message` (like config errors, see src/config/load.ts). A syntax error stops at the first one; past
 * that, the compiler collects every problem before throwing. Messages never echo long values.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { PolicyError, type PolicyIssue } from './model.ts';

export type Path = Array<string | number>;

export interface Source {
  file: string;
  doc: Document;
  issues: PolicyIssue[];
  /** Report at the node at `path` (or its nearest existing ancestor); `key` points at that key instead. */
  add(path: Path, message: string, key?: string): void;
  /** Report at a given node (a duplicate key: the second one). */
  addAt(node: Node, path: Path, message: string): void;
  /** The line of the node at `path` (0 when it does not exist). */
  line(path: Path): number;
  nodeLine(node: Node): number;
}

export function formatPath(path: Path): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$-]*$/.test(p) ? `${i ? '.' : ''}${p}` : `[${JSON.stringify(p)}]`))
    .join('');
}

function nodeAt(doc: Document, path: Path): Node | undefined {
  const n: unknown = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return n && typeof n === 'object' && 'range' in n ? (n as Node) : undefined;
}

function nearest(doc: Document, path: Path): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = nodeAt(doc, path.slice(0, n));
    if (node) return node;
  }
  return undefined;
}

function keyNode(doc: Document, path: Path, key: string): Node | undefined {
  const map = nodeAt(doc, path);
  const pair = isMap(map) ? map.items.find((p) => isScalar(p.key) && String(p.key.value) === key) : undefined;
  return (pair?.key as Node | undefined) ?? undefined;
}

function sentence(message: string): string {
  const first = message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '').replace(/[.:]$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}

/** Parse one source. Throws PolicyError on a YAML syntax error or duplicate keys. */
export function readSource(text: string, file: string): { source: Source; value: unknown } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  const pos = (offset: number) => {
    const { line, col } = lc.linePos(offset);
    return { line, column: col };
  };
  const source: Source = {
    file,
    doc,
    issues: [],
    add(path, message, key) {
      const at = (key !== undefined ? keyNode(doc, path, key) : undefined) ?? nearest(doc, key !== undefined ? [...path, key] : path);
      source.issues.push({ file, ...pos(at?.range?.[0] ?? 0), path: formatPath(key !== undefined ? [...path, key] : path), message });
    },
    addAt(node, path, message) {
      source.issues.push({ file, ...pos(node.range?.[0] ?? 0), path: formatPath(path), message });
    },
    line(path) {
      const n = nodeAt(doc, path);
      return n ? pos(n.range?.[0] ?? 0).line : 0;
    },
    nodeLine: (node) => pos(node.range?.[0] ?? 0).line,
  };
  const syntax = doc.errors[0];
  if (syntax) {
    const message = syntax.code === 'MULTIPLE_DOCS' ? 'only one YAML document is allowed (found a second `---`)' : sentence(syntax.message);
    throw new PolicyError([{ file, ...pos(syntax.pos[0]), path: '', message }]);
  }
  duplicateKeys(doc.contents, [], source);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 }); // refuses alias bombs
  } catch (err) {
    source.add([], sentence((err as Error).message));
  }
  if (source.issues.length) throw new PolicyError(source.issues);
  return { source, value };
}

function duplicateKeys(node: unknown, path: Path, src: Source): void {
  if (isMap(node)) {
    const first = new Map<string, Node>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const seen = first.get(key);
      // toJS would turn `__proto__` into a prototype and drop it silently: refuse it outright.
      if (key === '__proto__') src.addAt(pair.key as Node, [...path, key], 'key `__proto__` is not allowed');
      if (seen) src.addAt(pair.key as Node, [...path, key], `duplicate key \`${key}\` (first at line ${src.nodeLine(seen)})`);
      else if (isScalar(pair.key)) first.set(key, pair.key);
      duplicateKeys(pair.value, [...path, key], src);
    }
  } else if (isSeq(node)) node.items.forEach((item, i) => duplicateKeys(item, [...path, i], src));
}

/** Closest of `candidates` to `word` within two edits, for "did you mean". */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
