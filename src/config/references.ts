/**
 * `${VAR}` references in the configuration: `${NAME}` and `${NAME:-default}` substituted in every
 * string value, `$${` kept as a literal `${`; an unset variable or a malformed reference is reported
 * where it stands, and an unquoted value that becomes a number or boolean is read as one.
 */
import { type Document, type Node, Scalar, isAlias, isMap, isScalar, isSeq } from 'yaml';
import { formatPath, type Path } from '../util/yaml-positions.ts';
import type { Context } from './issues.ts';

// `$${` is a literal `${`; `${NAME}` and `${NAME:-default}` are references; any other `${` is malformed.
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

export function substitute(
  text: string,
  vars: NodeJS.ProcessEnv,
): { value: string; missing: string[]; malformed: boolean } {
  const missing: string[] = [];
  let malformed = false;
  const value = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      malformed = true;
      return match;
    }
    const set = vars[name];
    const v = fallback !== undefined && !set ? fallback : set; // like the shell, `:-` also replaces an empty value
    if (v === undefined) missing.push(name);
    return v ?? '';
  });
  return { value, missing, malformed };
}

/** Replace references in every string value. An unquoted value that becomes a number or boolean is one. */
export function substituteAll(node: unknown, path: Path, vars: NodeJS.ProcessEnv, ctx: Context): void {
  if (isMap(node))
    for (const pair of node.items)
      substituteAll(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : '?'], vars, ctx);
  else if (isSeq(node)) for (const [i, item] of node.items.entries()) substituteAll(item, [...path, i], vars, ctx);
  else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const { value, missing, malformed } = substitute(node.value, vars);
    ctx.references.set(node, node.value);
    for (const name of missing)
      ctx.add(path, `environment variable \`${name}\` is not set (use \`\${${name}:-default}\` for a default)`, node);
    if (malformed) ctx.add(path, 'malformed `${` reference (write `$${` for a literal `${`)', node);
    if (missing.length || malformed) ctx.unset.add(formatPath(path));
    node.value = node.type === Scalar.PLAIN ? retype(value) : value;
  }
}

function retype(value: string): string | number | boolean {
  if (/^-?\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value;
}

/**
 * The value at `path` as written, when it held a `${VAR}` reference: followed through aliases at every
 * step (`url: *u` is the anchored value, written elsewhere), so a check of where a reference stood
 * cannot be walked around by writing the value under another key.
 */
export function writtenAt(doc: Document, references: WeakMap<Node, string>, path: Path): string | undefined {
  let node: unknown = doc.contents;
  const resolve = (n: unknown) => (isAlias(n) ? n.resolve(doc) : n);
  for (const key of path) {
    node = resolve(node);
    if (isMap(node)) node = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key))?.value;
    else if (isSeq(node) && typeof key === 'number') node = node.items[key];
    else return undefined;
  }
  node = resolve(node);
  return node && typeof node === 'object' ? references.get(node as Node) : undefined;
}
