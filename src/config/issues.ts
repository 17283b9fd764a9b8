/**
 * The problems of one load, each at its file, line and column with its key path: the context that
 * collects them (at a given node, or the deepest node along the key path that exists), their order
 * by line, and the small readings of the parsed value that the validation and the checks share.
 */
import type { Document, LineCounter, Node } from 'yaml';
import { formatPath, keyNode, nearest, nodeAt, position, type Path } from '../util/yaml-positions.ts';

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** The key path, e.g. `servers[1].transport` ('' for the whole file). */
  path: string;
  message: string;
}

export type Obj = Record<string, unknown>;

export interface Context {
  doc: Document;
  issues: ConfigIssue[];
  /** What loads but is not as it should be (a credential in clear): said, never refused. */
  warnings: ConfigIssue[];
  /** Paths holding a reference that could not be substituted: schema errors there would be noise. */
  unset: Set<string>;
  /** Values that held a `${VAR}` reference, as written (by node; `writtenAt` finds one by key path, through aliases). */
  references: WeakMap<Node, string>;
  /** Report at `node`, or else at the deepest node along `path` that exists. */
  add(path: Path, message: string, node?: Node | null): void;
  /** A warning, placed as `add` places an issue. */
  warn(path: Path, message: string): void;
  line(node: Node): number;
}

export function context(doc: Document, lc: LineCounter, file: string): Context {
  const ctx: Context = {
    doc,
    issues: [],
    warnings: [],
    unset: new Set(),
    references: new WeakMap(),
    add(path, message, node) {
      const at = node ?? nearest(doc, path);
      ctx.issues.push({ file, ...position(lc, at?.range?.[0] ?? 0), path: formatPath(path), message });
    },
    warn(path, message) {
      const at = nearest(doc, path);
      ctx.warnings.push({ file, ...position(lc, at?.range?.[0] ?? 0), path: formatPath(path), message });
    },
    line: (node) => lc.linePos(node.range?.[0] ?? 0).line,
  };
  return ctx;
}

/** By line within each file; the config's (`first`) before the policy files', those by name. */
export function sorted(issues: ConfigIssue[], first?: string): ConfigIssue[] {
  const rank = (i: ConfigIssue) => (i.file === first ? 0 : 1);
  return issues.sort(
    (a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column,
  );
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The node of a key in the mapping at `path`, else the mapping (unknown keys are reported there). */
export function keyOrMap(doc: Document, path: Path, key: string): Node | undefined {
  return keyNode(doc, path, key) ?? nodeAt(doc, path);
}
