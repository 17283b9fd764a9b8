/**
 * A long-lived credential written into the config itself: a server's `headers` (HTTP) or `env`
 * (stdio) whose name says it is one (`Authorization`, `API_TOKEN`) or whose value reads as one
 * (`Bearer …`, `ghp_…`), whether typed there or substituted from `${VAR}`. Whoever reads the file or
 * the gateway's environment holds it, it is the same for every tenant, and nothing rotates it.
 * `gatehouse check` item 2.2 fails it; the loader warns at its line (`gatehouse config validate`),
 * by the same test, pointing to a reference under `credentials:` (docs/credentials.md). Only a
 * warning: the gateway runs with it, as it always has. Messages never echo the value.
 */
import { formatPath, type Path } from '../util/yaml-positions.ts';
import { isObj, type Context, type Obj } from './issues.ts';

/** A name that says its value is a secret. */
export const SECRET_NAME = /(?:token|secret|password|passwd|api[_-]?key|private[_-]?key|credential|auth)/i;

/** A value that is plainly a literal credential rather than a reference to one. */
const STATIC_SECRET_VALUE =
  /^(?:bearer|basic|token)\s+\S{8,}|^(?:ghp_|gho_|github_pat_|xox[abposr]-|sk-|sk_live_|AKIA|glpat-)\S+/i;

/** Whether a header or variable `name` set to `value` in the config is a credential in clear. */
export function literalSecret(name: string, value: unknown): boolean {
  return typeof value === 'string' && value !== '' && (SECRET_NAME.test(name) || STATIC_SECRET_VALUE.test(value));
}

export function staticSecretChecks(raw: Obj, ctx: Context): void {
  for (const [i, s] of (Array.isArray(raw.servers) ? raw.servers : []).entries()) {
    if (!isObj(s)) continue;
    const kind = s.transport === 'stdio' ? 'env' : 'headers';
    const set = isObj(s[kind]) ? s[kind] : {};
    for (const [name, value] of Object.entries(set)) {
      const path: Path = ['servers', i, kind, name];
      if (ctx.unset.has(formatPath(path)) || !literalSecret(name, value)) continue;
      const example =
        kind === 'headers'
          ? `\`credentials: { headers: { ${name}: { ref: "local:<name>", prefix: "Bearer " } } }\``
          : `\`credentials: { env: { ${name}: "local:<name>" } }\``;
      ctx.warn(
        path,
        `\`${name}\` holds a credential written in the config (\`gatehouse check\` fails it, item 2.2: whoever reads the file or the environment has it, every tenant shares it, nothing rotates it): reference it instead, ${example}, or \`env:<NAME>\`, \`vault://…\` (docs/credentials.md)`,
      );
    }
  }
}
