/**
 * What the schema cannot say: unique server names and limit rule ids, limits that must agree (the
 * request budget and the body bound among them), the gateway's addresses (./address-checks.ts), valid
 * environment variable names, no credentials in URLs (./url-credentials.ts), issuers bound to their
 * tenants, https for the identity provider, scopes as RFC 6749 allows, a console that signs in at a
 * configured issuer, sandboxes' egress that stays off the gateway's own listener
 * (./sandbox-checks.ts), and redaction paths the audit trail's redactor can read. Credentials written
 * in clear in a server's headers or environment are warned of (./static-secrets.ts).
 */
import { isPostgresUrl } from '../storage/mask.ts';
import { jsonPathProblem } from '../util/json-path.ts';
import { addressChecks } from './address-checks.ts';
import { urlCredentialChecks } from './url-credentials.ts';
import { formatPath, nodeAt, type Path } from '../util/yaml-positions.ts';
import { isObj, keyOrMap, type Context, type Obj } from './issues.ts';
import { sandboxChecks } from './sandbox-checks.ts';
import { headerChecks } from './header-checks.ts';
import { staticSecretChecks } from './static-secrets.ts';
import { literalPasswordChecks } from './literal-passwords.ts';
import { gatewayVariable, referencedNames, secretVariables } from './gateway-secrets.ts';
import { literalKeyChecks } from './literal-keys.ts';
import { writtenAt } from './references.ts';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `dirs`: the state directory and the config's folder, as the loader resolved them. */
export function semanticChecks(raw: unknown, ctx: Context, dirs: { stateDir: string; configDir: string }): void {
  if (!isObj(raw)) return;
  serverChecks(raw, ctx);
  sandboxChecks(raw, ctx, dirs);
  headerChecks(raw, ctx);
  staticSecretChecks(raw, ctx);
  literalPasswordChecks(raw, ctx);
  literalKeyChecks(raw, ctx);
  gatewaySecretChecks(raw, ctx);
  if (isObj(raw.gateway)) {
    requestBudgetCheck(raw.gateway, ctx);
    addressChecks(raw.gateway, ctx);
  }
  const identity = isObj(raw.identity) ? raw.identity : {};
  const issuers: unknown[] = Array.isArray(identity.issuers) ? identity.issuers : [];
  issuerBindingChecks(issuers, ctx);
  httpsChecks(identity, issuers, ctx);
  scopeChecks(identity, ctx);
  if (isObj(raw.console)) consoleChecks(raw.console, isObj(raw.identity), issuers, ctx);
  if (isObj(raw.limits)) limitChecks(raw.limits, ctx);
  urlCredentialChecks(raw, ctx);
  if (isObj(raw.audit) && isObj(raw.audit.redact)) redactionPathChecks(raw.audit.redact, ctx);
  const storage = isObj(raw.storage) ? raw.storage : {};
  if (storage.driver === 'postgres' && !storage.postgresUrl && !ctx.unset.has('storage.postgresUrl')) {
    ctx.add(['storage', 'driver'], 'the `postgres` driver needs `postgresUrl`');
  }
  // A value that is no URL (a password in the wrong variable) would be shown whole in a connection error.
  if (typeof storage.postgresUrl === 'string' && storage.postgresUrl && !isPostgresUrl(storage.postgresUrl))
    ctx.add(
      ['storage', 'postgresUrl'],
      'is not a `postgres://` or `postgresql://` URL (postgres://user@host:5432/db; a Unix socket: postgresql:///db?host=/run/postgresql); the value is not shown',
    );
}

/** Server names are unique and free of the namespace separator; limits in order; env names valid. */
function serverChecks(raw: Obj, ctx: Context): void {
  const gateway = isObj(raw.gateway) ? raw.gateway : {};
  const separator = typeof gateway.namespaceSeparator === 'string' ? gateway.namespaceSeparator : '';
  const firstUse = new Map<string, number>();
  const servers: unknown[] = Array.isArray(raw.servers) ? raw.servers : [];
  for (const [i, server] of servers.entries()) {
    if (!isObj(server)) continue;
    const path = ['servers', i];
    if (typeof server.name === 'string' && !ctx.unset.has(formatPath([...path, 'name']))) {
      const first = firstUse.get(server.name);
      const firstNode = nodeAt(ctx.doc, ['servers', first ?? i, 'name']);
      if (first !== undefined)
        ctx.add(
          [...path, 'name'],
          `duplicate server name (first used by servers[${first}] at line ${firstNode ? ctx.line(firstNode) : '?'})`,
        );
      else firstUse.set(server.name, i);
      if (separator && server.name.includes(separator))
        ctx.add([...path, 'name'], 'must not contain the namespace separator (`gateway.namespaceSeparator`)');
    }
    ordered(ctx, [...path, 'timeouts'], server.timeouts, 'requestMs', 'maxTotalMs');
    ordered(ctx, [...path, 'restart'], server.restart, 'initialDelayMs', 'maxDelayMs');
    if (isObj(server.env)) {
      for (const key of Object.keys(server.env)) {
        if (!ENV_NAME.test(key))
          ctx.add(
            [...path, 'env'],
            `\`${key}\` is not a valid environment variable name`,
            keyOrMap(ctx.doc, [...path, 'env'], key),
          );
      }
    }
  }
}

/**
 * A stdio server (sandboxed or not) is never handed the gateway's own secrets: not through
 * `inheritEnv`, and not as `${VAR}` in its `env` or `args` (./gateway-secrets.ts); nor is any server,
 * as an `env:NAME` reference of its credentials (set in its environment or its request headers). Whatever a server
 * is handed it may print, and a server's output is the caller's to read.
 */
function gatewaySecretChecks(raw: Obj, ctx: Context): void {
  const own = secretVariables(raw, ctx.doc, ctx.references);
  const why =
    ' that no server may be handed: a server can print what it is given, and its output reaches callers and logs';
  const servers: unknown[] = Array.isArray(raw.servers) ? raw.servers : [];
  for (const [i, server] of servers.entries()) {
    if (!isObj(server)) continue;
    for (const [path, name] of envReferences(server, i)) {
      const problem = gatewayVariable(name, own);
      if (problem) ctx.add(path, `${problem}${why}`);
    }
    for (const [path, command] of execReferences(server, i)) {
      const variable = (command.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []).find((n) => gatewayVariable(n, own));
      const what = command.includes('secrets.key') ? "the gateway's secrets key file" : variable && `\`${variable}\``;
      if (what) ctx.add(path, `an \`exec:\` command that reads ${what}, a secret of the gateway's own${why}`);
    }
    // An HTTP upstream's own headers are sent as written: a reference there hands the value over too (walk O).
    for (const k of Object.keys(isObj(server.headers) ? server.headers : {}))
      for (const name of referencedNames(writtenAt(ctx.doc, ctx.references, ['servers', i, 'headers', k]))) {
        const problem = gatewayVariable(name, own);
        if (problem) ctx.add(['servers', i, 'headers', k], `${problem}${why}`);
      }
    if (server.transport !== 'stdio') continue;
    const inherit: unknown[] = Array.isArray(server.inheritEnv) ? server.inheritEnv : [];
    for (const [j, name] of inherit.entries()) {
      const problem = typeof name === 'string' ? gatewayVariable(name, own) : undefined;
      if (problem) ctx.add(['servers', i, 'inheritEnv', j], `${problem}${why}`);
    }
    const given: Path[] = [
      ...Object.keys(isObj(server.env) ? server.env : {}).map((k) => ['servers', i, 'env', k]),
      ...(Array.isArray(server.args) ? server.args : []).map((_, j) => ['servers', i, 'args', j]),
    ];
    for (const path of given)
      for (const name of referencedNames(writtenAt(ctx.doc, ctx.references, path))) {
        const problem = gatewayVariable(name, own);
        if (problem) ctx.add(path, `${problem}${why}`);
      }
  }
}

/** The secret references of a server's credentials (its environment, its headers) of one scheme, what follows it, and where they stand. */
function credentialReferences(server: Obj, i: number, scheme: RegExp): Array<[Path, string]> {
  const credentials = isObj(server.credentials) ? server.credentials : {};
  const found: Array<[Path, string]> = [];
  for (const kind of ['env', 'headers']) {
    const refs = isObj(credentials[kind]) ? credentials[kind] : {};
    for (const [key, v] of Object.entries(refs)) {
      const ref = isObj(v) ? v.ref : v;
      const rest = typeof ref === 'string' ? scheme.exec(ref)?.[1] : undefined;
      if (rest) found.push([['servers', i, 'credentials', kind, key], rest]);
    }
  }
  return found;
}

/** The `env:NAME` references of a server's credentials: the names. */
const envReferences = (server: Obj, i: number) => credentialReferences(server, i, /^env:(.+)$/i);
/**
 * The `exec:` references of a server's credentials: their commands, run with the gateway's own
 * environment, so one that prints a variable of the gateway's hands it over like `env:` (walk O).
 */
const execReferences = (server: Obj, i: number) => credentialReferences(server, i, /^exec:(.+)$/is);

/**
 * Each tenant's requests hold at most half of `maxBufferedRequestBytes`: that half must hold one body
 * of the largest size, or a tenant could never send one.
 */
function requestBudgetCheck(gateway: Obj, ctx: Context): void {
  const body = gateway.maxBodyBytes;
  const budget = gateway.maxBufferedRequestBytes;
  if (typeof body !== 'number' || typeof budget !== 'number' || budget >= 2 * body) return;
  ctx.add(
    ['gateway', 'maxBufferedRequestBytes'],
    `must be at least twice \`maxBodyBytes\` (${2 * body}): a tenant's requests hold at most half of it`,
  );
}

/**
 * Limit rules: ids are unique (refusals name them, and a rule's budgets are keyed by its id: two rules
 * of one id would share them), and each rule limits something (a rule with neither a rate nor a cap
 * would let every call through while reading as a limit).
 */
function limitChecks(limits: Obj, ctx: Context): void {
  const rules: unknown[] = Array.isArray(limits.rules) ? limits.rules : [];
  const firstUse = new Map<string, number>();
  for (const [i, rule] of rules.entries()) {
    if (!isObj(rule)) continue;
    const path = ['limits', 'rules', i];
    if (typeof rule.id === 'string') {
      const first = firstUse.get(rule.id);
      const firstNode = nodeAt(ctx.doc, ['limits', 'rules', first ?? i, 'id']);
      if (first !== undefined)
        ctx.add(
          [...path, 'id'],
          `duplicate limit rule id (first used by limits.rules[${first}] at line ${firstNode ? ctx.line(firstNode) : '?'})`,
        );
      else firstUse.set(rule.id, i);
    }
    if (rule.rate === undefined && rule.concurrency === undefined)
      ctx.add(path, 'a limit rule needs `rate`, `concurrency` or both');
  }
}

/**
 * `audit.redact.paths` are read by the audit trail's redactor when the gateway starts (and at each
 * reload): one it cannot read is refused here, at its line, by the redactor's own parser.
 */
function redactionPathChecks(redact: Obj, ctx: Context): void {
  const paths: unknown[] = Array.isArray(redact.paths) ? redact.paths : [];
  for (const [i, p] of paths.entries()) {
    const path = ['audit', 'redact', 'paths', i];
    if (typeof p !== 'string' || ctx.unset.has(formatPath(path))) continue;
    const why = jsonPathProblem(p);
    if (why)
      ctx.add(
        path,
        `not a redaction path: ${why} (paths look like \`$.arguments.email\`, \`$..ssn\`, \`$.items[*].card\`)`,
      );
  }
}

/** Every issuer speaks for the tenants it is bound to; with several, an unbound one could speak for any. */
function issuerBindingChecks(issuers: unknown[], ctx: Context): void {
  for (const [i, is] of issuers.entries()) {
    if (!isObj(is)) continue;
    const kinds = [is.tenant !== undefined, is.tenants !== undefined, is.platform === true].filter(Boolean).length;
    if (kinds > 1)
      ctx.add(['identity', 'issuers', i], 'bind the issuer one way: `tenant`, `tenants` or `platform: true`');
    else if (kinds === 0 && issuers.length > 1)
      ctx.add(
        ['identity', 'issuers', i],
        'with more than one issuer, bind each to the tenants it speaks for: `tenant`, `tenants` or `platform: true`',
      );
  }
}

/** The identity provider's URLs are https (plain http only on a loopback address). */
function httpsChecks(identity: Obj, issuers: unknown[], ctx: Context): void {
  const urls: Array<[Path, unknown]> = [
    [['identity', 'introspection', 'url'], isObj(identity.introspection) ? identity.introspection.url : undefined],
  ];
  for (const [i, is] of issuers.entries()) {
    if (isObj(is))
      urls.push([['identity', 'issuers', i, 'issuer'], is.issuer], [['identity', 'issuers', i, 'jwksUri'], is.jwksUri]);
  }
  // (`identity.resource` is ours and not checked: any scheme the clients reach us by.)
  for (const [path, url] of urls) {
    if (
      typeof url === 'string' &&
      URL.canParse(url) &&
      new URL(url).protocol === 'http:' &&
      !LOOPBACK_HOSTS.has(new URL(url).hostname)
    ) {
      ctx.add(path, 'must be https (plain http only on a loopback address)');
    }
  }
}

function scopeChecks(identity: Obj, ctx: Context): void {
  const scopes = isObj(identity.requiredScopes) ? identity.requiredScopes : {};
  for (const [key, list] of Object.entries(scopes)) {
    const given: unknown[] = Array.isArray(list) ? list : [];
    for (const [i, scope] of given.entries()) {
      if (typeof scope === 'string' && !SCOPE_TOKEN.test(scope))
        ctx.add(
          ['identity', 'requiredScopes', key, i],
          'a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749)',
        );
    }
  }
}

/** The console signs people in at identity issuers only. */
function consoleChecks(c: Obj, hasIdentity: boolean, issuers: unknown[], ctx: Context): void {
  const known = issuers.map((is: unknown) => (isObj(is) ? is.issuer : undefined));
  if (!hasIdentity)
    ctx.add(
      ['console'],
      'the console signs people in through `identity.issuers`: configure `identity` (without it, the console serves loopback callers and needs no `console` section)',
    );
  else if (c.clientId === undefined && !(Array.isArray(c.logins) && c.logins.length))
    ctx.add(['console'], 'set `clientId` (or `logins`): the client the console is at the identity provider');
  else if (c.clientId !== undefined && c.issuer === undefined && !known.length)
    ctx.add(['console', 'clientId'], 'there is no `identity.issuers` entry to sign in at');
  if (hasIdentity && c.issuer !== undefined && !known.includes(c.issuer))
    ctx.add(['console', 'issuer'], 'must be one of `identity.issuers`');
  const logins: unknown[] = Array.isArray(c.logins) ? c.logins : [];
  for (const [i, l] of logins.entries()) {
    if (hasIdentity && isObj(l) && !known.includes(l.issuer))
      ctx.add(['console', 'logins', i, 'issuer'], 'must be one of `identity.issuers`');
  }
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** `high` must not be below `low`; reported at whichever of the two the file sets (defaults are filled). */
function ordered(ctx: Context, path: Path, limits: unknown, low: string, high: string): void {
  const [a, b] = isObj(limits) ? [limits[low], limits[high]] : [];
  if (typeof a !== 'number' || typeof b !== 'number' || b >= a) return;
  if (nodeAt(ctx.doc, [...path, high])) ctx.add([...path, high], `must not be smaller than \`${low}\``);
  else ctx.add([...path, low], `must not be larger than \`${high}\` (default ${b})`);
}
