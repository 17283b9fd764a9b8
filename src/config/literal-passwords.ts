/**
 * A password written into the config in the URL of the gateway's own store (`storage.postgresUrl`)
 * or of Redis (`limits.redis.url`), rather than taken from the environment through a `${VAR}`
 * reference. Like a credential in a server's headers (./static-secrets.ts): whoever reads the file
 * holds it, and nothing rotates it. The loader warns at its line (`gatehouse config validate`), and
 * `gatehouse check` fails item 2.2 for it (the loaded config names the paths: `literalPasswords`).
 * A password that is itself a reference (`postgres://app:${PGPASSWORD}@db/gatehouse`) or a whole URL
 * that is one (`${DATABASE_URL}`) is fine. Messages never echo the value.
 */
import type { Document, Node } from 'yaml';
import type { Path } from '../util/yaml-positions.ts';
import { formatPath } from '../util/yaml-positions.ts';
import { writtenAt } from './references.ts';
import { isObj, type Context, type Obj } from './issues.ts';

const URLS: ReadonlyArray<{ path: Path; example: string }> = [
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, quoted for the reader
  { path: ['storage', 'postgresUrl'], example: '`postgresUrl: "${DATABASE_URL}"`' },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, quoted for the reader
  { path: ['limits', 'redis', 'url'], example: '`url: "${REDIS_URL}"`' },
];

/** A stand-in for a reference: the URL is read as written, each `${…}` counting as none of its text. */
const MARK = 'gatehouseref';

/** Whether a URL, as written, holds a password of its own (not a reference). */
export function passwordWrittenIn(written: string): boolean {
  const marked = written.replace(/\$\$\{/g, '').replace(/\$\{[^}]*\}/g, MARK);
  if (!URL.canParse(marked)) return false;
  const password = new URL(marked).password;
  return password !== '' && !password.toLowerCase().includes(MARK);
}

function valueAt(raw: Obj, path: Path): unknown {
  let v: unknown = raw;
  for (const k of path) v = isObj(v) ? v[String(k)] : undefined;
  return v;
}

/** The paths (`storage.postgresUrl`) whose URL carries a password written in the file. */
export function literalPasswordPaths(
  raw: Obj,
  doc: Document,
  references: WeakMap<Node, string>,
  unset: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const { path } of URLS) {
    const value = valueAt(raw, path);
    if (typeof value !== 'string' || unset.has(formatPath(path))) continue;
    if (passwordWrittenIn(writtenAt(doc, references, path) ?? value)) out.push(formatPath(path));
  }
  return out;
}

export function literalPasswordChecks(raw: Obj, ctx: Context): void {
  const found = new Set(literalPasswordPaths(raw, ctx.doc, ctx.references, ctx.unset));
  for (const { path, example } of URLS) {
    if (!found.has(formatPath(path))) continue;
    ctx.warn(
      path,
      `the URL holds a password written in the config (\`gatehouse check\` fails it, item 2.2: whoever reads the file has it, nothing rotates it): take it from the environment, ${example}, or the password alone, \`…://user:\${PASSWORD}@host/…\``,
    );
  }
}
