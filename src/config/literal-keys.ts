/**
 * A webhook's signing key (`servers[].contact.webhook.secret`, `approvals.webhook.secret`) written
 * into the config itself rather than taken from the environment through a `${VAR}` reference. Like a
 * credential in a server's headers (./static-secrets.ts) or a password in a store's URL
 * (./literal-passwords.ts): whoever reads the file can sign notices the receiver trusts, and nothing
 * rotates it. The loader warns at its line (`gatehouse config validate`), and `gatehouse check`
 * fails item 2.2 for it (the loaded config names the paths: `literalKeys`). Messages never echo it.
 */
import type { Document, Node } from 'yaml';
import { formatPath, type Path } from '../util/yaml-positions.ts';
import { writtenAt } from './references.ts';
import { isObj, type Context, type Obj } from './issues.ts';

/** The webhook signing keys the config holds, by path. */
function keyPaths(raw: Obj): Array<{ path: Path; value: unknown }> {
  const out: Array<{ path: Path; value: unknown }> = [];
  const approvals = isObj(raw.approvals) && isObj(raw.approvals.webhook) ? raw.approvals.webhook : undefined;
  if (approvals && 'secret' in approvals)
    out.push({ path: ['approvals', 'webhook', 'secret'], value: approvals.secret });
  for (const [i, s] of (Array.isArray(raw.servers) ? raw.servers : []).entries()) {
    const hook = isObj(s) && isObj(s.contact) && isObj(s.contact.webhook) ? s.contact.webhook : undefined;
    if (hook && 'secret' in hook)
      out.push({ path: ['servers', i, 'contact', 'webhook', 'secret'], value: hook.secret });
  }
  return out;
}

/** The paths (`servers[0].contact.webhook.secret`) whose signing key is written in the file, not a `${VAR}` reference. */
export function literalKeyPaths(
  raw: Obj,
  doc: Document,
  references: WeakMap<Node, string>,
  unset: ReadonlySet<string>,
): string[] {
  return keyPaths(raw)
    .filter(({ path, value }) => typeof value === 'string' && value !== '' && !unset.has(formatPath(path)))
    .filter(
      ({ path }) =>
        !writtenAt(doc, references, path)
          ?.replace(/\$\$\{/g, '')
          .includes('${'),
    )
    .map(({ path }) => formatPath(path));
}

export function literalKeyChecks(raw: Obj, ctx: Context): void {
  const found = new Set(literalKeyPaths(raw, ctx.doc, ctx.references, ctx.unset));
  for (const { path } of keyPaths(raw)) {
    if (!found.has(formatPath(path))) continue;
    ctx.warn(
      path,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, quoted for the reader
      'the webhook signing key is written in the config (`gatehouse check` fails it, item 2.2: whoever reads the file can sign notices the receiver trusts, nothing rotates it): take it from the environment, `secret: "${WEBHOOK_SECRET}"`',
    );
  }
}
