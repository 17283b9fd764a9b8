/**
 * Reading policy YAML with positions, so that every problem is reported as `file:line:column: path:
 * message` (like config errors, see src/config/load.ts). A syntax error stops at the first one; past
 * that, the compiler collects every problem before throwing. Messages never echo long values.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import {
  formatPath,
  keyNode,
  nearest,
  nodeAt,
  position,
  sentence,
  syntaxError,
  type Path,
} from '../util/yaml-positions.ts';
import { PolicyError, type PolicyIssue } from './model.ts';

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

/** Parse one source. Throws PolicyError on a YAML syntax error or duplicate keys. */
export function readSource(text: string, file: string): { source: Source; value: unknown } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  const pos = (offset: number) => position(lc, offset);
  const source: Source = {
    file,
    doc,
    issues: [],
    add(path, message, key) {
      const at =
        (key !== undefined ? keyNode(doc, path, key) : undefined) ??
        nearest(doc, key !== undefined ? [...path, key] : path);
      source.issues.push({
        file,
        ...pos(at?.range?.[0] ?? 0),
        path: formatPath(key !== undefined ? [...path, key] : path),
        message,
      });
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
    const said = syntaxError(text, syntax);
    throw new PolicyError([{ file, ...pos(said.offset), path: '', message: said.message }]);
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
      if (seen)
        src.addAt(pair.key as Node, [...path, key], `duplicate key \`${key}\` (first at line ${src.nodeLine(seen)})`);
      else if (isScalar(pair.key)) first.set(key, pair.key);
      duplicateKeys(pair.value, [...path, key], src);
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) duplicateKeys(item, [...path, i], src);
  }
}
