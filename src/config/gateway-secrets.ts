/**
 * The gateway's own secrets, which no server it starts may be handed and none of its logs may show:
 * the secrets key and every other `GATEHOUSE_*` variable, and the values the config takes for its own
 * use (the store's and Redis' URLs, the metrics token, the secrets managers' credentials, the audit
 * sinks' headers, client secrets and webhook keys). Two readings of one list: at load, the variables
 * those values were written from (`${VAR}`), which a stdio server's `inheritEnv`, `env` and `args`
 * must not name (semantic-checks.ts); at run time, the values themselves, which the scrubber removes
 * from what the gateway logs of its servers (their stderr, their errors: credentials/scrub.ts).
 */
import type { Document, Node } from 'yaml';
import type { Config } from './schema.ts';
import type { Path } from '../util/yaml-positions.ts';
import { isObj, type Obj } from './issues.ts';
import { writtenAt } from './references.ts';

/** Where the config holds a secret of the gateway's own; `*` is any key or index. */
const SECRET_PATHS: ReadonlyArray<readonly string[]> = [
  ['storage', 'postgresUrl'],
  ['limits', 'redis', 'url'],
  ['gateway', 'metricsToken'],
  ['secrets', 'vault', 'auth', 'token'],
  ['secrets', 'vault', 'auth', 'roleId'],
  ['secrets', 'vault', 'auth', 'secretId'],
  ['secrets', 'aws', 'accessKeyId'],
  ['secrets', 'aws', 'secretAccessKey'],
  ['secrets', 'onepassword', 'token'],
  ['audit', 'exports', '*', 'headers', '*'],
  ['approvals', 'webhook', 'secret'],
  ['identity', 'introspection', 'clientSecret'],
  ['console', 'clientSecret'],
  ['console', 'logins', '*', 'clientSecret'],
  ['servers', '*', 'oauth', 'clientSecret'],
  ['servers', '*', 'contact', 'webhook', 'secret'],
];

/**
 * Every `GATEHOUSE_*` variable is the gateway's: the secrets key, the CLI's credential, the SMTP URL
 * with its password among them. None is a server's business, so none is passed on, and a new one is
 * kept from servers without a list to update. Two are no secret: the config's folder and the state
 * directory, paths the loader substitutes (`args: ["${GATEHOUSE_CONFIG_DIR}/server.js"]`); a sandbox
 * shows nothing of the state directory whoever names it (src/sandbox/server-view.ts).
 */
const GATEWAY_PREFIX = 'GATEHOUSE_';
const HARMLESS = new Set(['GATEHOUSE_CONFIG_DIR', 'GATEHOUSE_STATE_DIR']);

/** The gateway's secrets that come from its environment alone (no config key names them). */
const ENV_SECRETS = [
  'GATEHOUSE_SECRETS_KEY',
  'GATEHOUSE_SECRETS_KEY_PREVIOUS',
  'GATEHOUSE_CREDENTIAL',
  'GATEHOUSE_SMTP_URL',
];

/** The concrete key paths in `raw` that SECRET_PATHS name, with their values. */
function secretPaths(raw: unknown): Array<[Path, unknown]> {
  const found: Array<[Path, unknown]> = [];
  const walk = (v: unknown, pattern: readonly string[], at: Path) => {
    if (!pattern.length) {
      found.push([at, v]);
      return;
    }
    const [head, ...rest] = pattern;
    if (Array.isArray(v)) {
      if (head === '*') for (const [i, x] of v.entries()) walk(x, rest, [...at, i]);
    } else if (isObj(v)) {
      const keys = head === '*' ? Object.keys(v) : [head];
      for (const k of keys) if (k in v) walk((v as Obj)[k], rest, [...at, k]);
    }
  };
  for (const p of SECRET_PATHS) walk(raw, p, []);
  return found;
}

const REFERENCE_NAME = /\$\{([A-Za-z_][A-Za-z0-9_]*)/g;

/** The variables a value as written refers to (`$${` is a literal `${`, no reference). */
export function referencedNames(written: string | undefined): string[] {
  return [...(written?.replace(/\$\$\{/g, '') ?? '').matchAll(REFERENCE_NAME)].map((m) => m[1]);
}

/** The variables the config's own secrets were written from (`${VAR}` at SECRET_PATHS), by name. */
export function secretVariables(raw: unknown, doc: Document, references: WeakMap<Node, string>): Set<string> {
  const names = new Set<string>();
  for (const [path] of secretPaths(raw)) {
    for (const name of referencedNames(writtenAt(doc, references, path))) names.add(name);
  }
  return names;
}

/** Why a server may not be handed the variable `name`, or undefined. */
export function gatewayVariable(name: string, configSecrets: ReadonlySet<string>): string | undefined {
  if (name.startsWith(GATEWAY_PREFIX) && !HARMLESS.has(name))
    return `\`${name}\` is the gateway's own (every \`${GATEWAY_PREFIX}*\` variable is: the secrets key among them)`;
  if (configSecrets.has(name))
    return `\`${name}\` holds one of the gateway's own secrets (the config reads it for its own use)`;
  return undefined;
}

/**
 * What of a value is secret: a URL's password (the rest of it is an address, and said in logs), else
 * the value and, of `Scheme token`, the token, which a server could print alone.
 */
function parts(value: string): string[] {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && URL.canParse(value)) {
    const password = new URL(value).password;
    return password ? [password, decodeURIComponent(password)] : [];
  }
  const word = /\s(\S+)$/.exec(value.trim());
  return word ? [value, word[1]] : [value];
}

/**
 * The values of the gateway's own secrets, to scrub from what it logs of its servers: those the
 * config holds at SECRET_PATHS, those of its environment (ENV_SECRETS), and the secrets key itself
 * (read from a file when not from the environment).
 */
export function gatewaySecretValues(config: Config, env: NodeJS.ProcessEnv, secretsKey?: Buffer): string[] {
  const values: string[] = [];
  for (const [, v] of secretPaths(config)) if (typeof v === 'string' && v) values.push(...parts(v));
  for (const name of ENV_SECRETS) {
    const v = env[name];
    if (v) values.push(...parts(v));
  }
  if (secretsKey?.length) values.push(secretsKey.toString('base64'), secretsKey.toString('hex'));
  return [...new Set(values)];
}
