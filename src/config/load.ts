/**
 * Loading the YAML configuration: parse keeping node positions, substitute ${VAR} references,
 * validate against the schema (which also fills its defaults), check what a schema cannot (unique
 * names, limits that must agree) and make paths absolute. A YAML syntax error stops there; past
 * that, every problem is reported at once, sorted by line, each as `file:line:column: key.path:
 * message`. Messages never echo configuration values: a value may have come from the environment,
 * and those may be secrets.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, Scalar, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { closestKey } from '../util/suggest.ts';
import { formatPath, keyNode, nearest, nodeAt, position, sentence, type Path } from './yaml-positions.ts';
import type { ErrorObject } from 'ajv';
import * as validators from './validators.generated.ts';
import type { Config, RawConfig } from './schema.ts';
import { DEFAULT_STATE_DIR } from './defaults.ts';
import { compileAll } from '../policy/compile.ts';
import { PolicyError } from '../policy/model.ts';
import { unknownToolWarnings } from '../policy/unknown-tools.ts';

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** The key path, e.g. `servers[1].transport` ('' for the whole file). */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'));
    this.issues = issues;
  }
}

/** The source name for configuration that did not come from a file; paths resolve against the cwd. */
const MEMORY_SOURCE = '<memory>';

/** An Ajv validator as generated: true or false, its errors left on the function. */
type Validate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
// Compiled by `npm run schema` (validators-source.ts) with every error, the schema's defaults filled
// in (the one source of defaults) and errors carrying their schema. Each server is validated against
// the variant its `transport` names: clearer errors than a union's.
const validateTop = validators.top as Validate;
const VARIANTS: Record<string, Validate> = { stdio: validators.stdio, http: validators.http, sse: validators.http };
const TRANSPORTS = '`stdio`, `http`, `sse`';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Obj = Record<string, unknown>;

interface Context {
  doc: Document;
  issues: ConfigIssue[];
  /** Paths holding a reference that could not be substituted: schema errors there would be noise. */
  unset: Set<string>;
  /** Report at `node`, or else at the deepest node along `path` that exists. */
  add(path: Path, message: string, node?: Node | null): void;
  line(node: Node): number;
}

export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  return parseConfig(await readFile(path, 'utf8'), path, env);
}

/** Parse configuration text; `source` names it in messages and anchors relative paths. */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, uniqueKeys: false, prettyErrors: false });
  const ctx = context(doc, lineCounter, source);
  // After the first syntax error the parse is unreliable, and what follows is mostly its echo.
  const syntax = doc.errors[0];
  if (syntax) {
    const message =
      syntax.code === 'MULTIPLE_DOCS'
        ? 'only one YAML document is allowed (found a second `---`)'
        : sentence(syntax.message);
    throw new ConfigError([{ file: source, ...position(lineCounter, syntax.pos[0]), path: '', message }]);
  }
  duplicateKeys(doc.contents, [], ctx);

  const configDir = source === MEMORY_SOURCE ? process.cwd() : dirname(resolve(source));
  const vars: NodeJS.ProcessEnv = { GATEHOUSE_CONFIG_DIR: configDir, ...env };
  const stateDirText = doc.getIn(['gateway', 'stateDir']);
  const stateDir = resolve(
    configDir,
    typeof stateDirText === 'string' ? substitute(stateDirText, vars).value : DEFAULT_STATE_DIR,
  );
  substituteAll(doc.contents, [], { GATEHOUSE_STATE_DIR: stateDir, ...vars }, ctx);

  let raw: unknown;
  try {
    raw = doc.toJS(); // refuses alias bombs (maxAliasCount)
  } catch (err) {
    ctx.add([], sentence((err as Error).message));
    throw new ConfigError(sorted(ctx.issues));
  }
  validate(raw, ctx);
  semanticChecks(raw, ctx);
  if (ctx.issues.length) throw new ConfigError(sorted(ctx.issues));
  const config = normalise(raw as RawConfig, source, configDir);
  const policy = loadPolicy(raw as RawConfig, configDir, ctx);
  if (policy && (raw as RawConfig).policy?.unknownTools === 'error') {
    const known = { servers: new Set(config.servers.map((s) => s.name)), separator: config.gateway.namespaceSeparator };
    for (const w of unknownToolWarnings(policy.compiled, known))
      ctx.issues.push({ file: w.file, line: w.line, column: 1, path: 'policy', message: w.message });
  }
  if (ctx.issues.length) throw new ConfigError(sorted(ctx.issues));
  return policy ? { ...config, policy } : config;
}

/** Read and compile the policy files; their problems join the config's, at their own file and line. */
function loadPolicy(raw: RawConfig, configDir: string, ctx: Context): Config['policy'] {
  const files = raw.policy?.files;
  if (!files) return undefined;
  const inputs: Array<{ text: string; source: string }> = [];
  files.forEach((f, i) => {
    const path = resolve(configDir, f);
    try {
      inputs.push({ text: readFileSync(path, 'utf8'), source: path });
    } catch (err) {
      ctx.add(['policy', 'files', i], `cannot read \`${f}\` (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  });
  if (ctx.issues.length) return undefined;
  try {
    return { files: inputs.map((x) => x.source), compiled: compileAll(inputs) };
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    for (const is of err.issues)
      ctx.issues.push({ file: is.file, line: is.line, column: is.column, path: is.path, message: is.message });
    return undefined;
  }
}

function context(doc: Document, lc: LineCounter, file: string): Context {
  const ctx: Context = {
    doc,
    issues: [],
    unset: new Set(),
    add(path, message, node) {
      const at = node ?? nearest(doc, path);
      ctx.issues.push({ file, ...position(lc, at?.range?.[0] ?? 0), path: formatPath(path), message });
    },
    line: (node) => lc.linePos(node.range?.[0] ?? 0).line,
  };
  return ctx;
}

function sorted(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The node of a key in the mapping at `path`, else the mapping (unknown keys are reported there). */
function keyOrMap(doc: Document, path: Path, key: string): Node | undefined {
  return keyNode(doc, path, key) ?? nodeAt(doc, path);
}

function duplicateKeys(node: unknown, path: Path, ctx: Context): void {
  if (isMap(node)) {
    const first = new Map<string, Node>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const seen = first.get(key);
      if (seen) ctx.add(path, `duplicate key \`${key}\` (first at line ${ctx.line(seen)})`, pair.key as Node);
      else if (isScalar(pair.key)) first.set(key, pair.key);
      duplicateKeys(pair.value, [...path, key], ctx);
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) duplicateKeys(item, [...path, i], ctx);
  }
}

// `$${` is a literal `${`; `${NAME}` and `${NAME:-default}` are references; any other `${` is malformed.
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

function substitute(text: string, vars: NodeJS.ProcessEnv): { value: string; missing: string[]; malformed: boolean } {
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
function substituteAll(node: unknown, path: Path, vars: NodeJS.ProcessEnv, ctx: Context): void {
  if (isMap(node))
    for (const pair of node.items)
      substituteAll(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : '?'], vars, ctx);
  else if (isSeq(node)) for (const [i, item] of node.items.entries()) substituteAll(item, [...path, i], vars, ctx);
  else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const { value, missing, malformed } = substitute(node.value, vars);
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

function validate(raw: unknown, ctx: Context): void {
  if (!isObj(raw)) {
    ctx.add([], 'must be a mapping with `version` and `servers`');
    return;
  }
  if (!validateTop(raw)) report(validateTop.errors, [], ctx);
  if (!Array.isArray(raw.servers)) return;
  for (const [i, server] of (raw.servers as unknown[]).entries()) {
    const path = ['servers', i];
    if (!isObj(server)) {
      ctx.add(path, 'must be a mapping');
      continue;
    }
    const t = server.transport;
    const check = typeof t === 'string' && Object.hasOwn(VARIANTS, t) ? VARIANTS[t] : undefined;
    if (t === undefined) ctx.add(path, `missing required key \`transport\` (one of ${TRANSPORTS})`);
    else if (!check) {
      if (!ctx.unset.has(formatPath([...path, 'transport'])))
        ctx.add([...path, 'transport'], `must be one of ${TRANSPORTS}`);
    } else if (!check(server)) report(check.errors, path, ctx);
  }
}

function pointerToPath(pointer: string): Path {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
}

function isConstUnion(schema: unknown): schema is Array<{ const: unknown }> {
  return Array.isArray(schema) && schema.every((s) => isObj(s) && 'const' in s);
}

const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

function report(errors: ErrorObject[] | null | undefined, base: Path, ctx: Context): void {
  const list = errors ?? [];
  // A union of constants reads as one "must be one of" instead of one complaint per constant.
  const choices = list.filter((e) => e.keyword === 'anyOf' && isConstUnion(e.schema));
  // An unknown key whose suggestion is a missing required key is one mistake (a typo), reported once.
  const hints = new Map<ErrorObject, string | undefined>();
  for (const e of list) {
    if (e.keyword !== 'additionalProperties') continue;
    const known = Object.keys((e.parentSchema as { properties?: Obj }).properties ?? {});
    hints.set(e, closestKey(String(e.params.additionalProperty), known));
  }
  const typos = new Set([...hints].map(([e, hint]) => `${e.instancePath}/${hint}`));
  const seen = new Set<string>();
  for (const e of list) {
    const path = [...base, ...pointerToPath(e.instancePath)];
    if (ctx.unset.has(formatPath(path))) continue;
    if (e.keyword === 'anyOf' && !choices.includes(e)) continue;
    if (choices.some((c) => e.schemaPath.startsWith(`${c.schemaPath}/`))) continue;
    let node: Node | undefined;
    let message: string;
    if (e.keyword === 'additionalProperties') {
      const key = String(e.params.additionalProperty);
      const hint = hints.get(e);
      node = keyOrMap(ctx.doc, path, key);
      message = `unknown key \`${key}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}`;
    } else if (e.keyword === 'required') {
      if (typos.has(`${e.instancePath}/${e.params.missingProperty}`)) continue;
      message = `missing required key \`${e.params.missingProperty}\``;
    } else message = describe(e);
    const id = `${formatPath(path)}\n${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    ctx.add(path, message, node);
  }
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  integer: 'an integer',
  number: 'a number',
  boolean: '`true` or `false`',
  string: 'a string',
};

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `must be ${TYPE_NAMES[String(p.type)] ?? p.type}`;
    case 'const':
      return `must be ${code(p.allowedValue)}`;
    case 'anyOf':
      return `must be one of ${(e.schema as Array<{ const: unknown }>).map((s) => code(s.const)).join(', ')}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map(code).join(', ')}`;
    case 'pattern':
      return `must match ${code(p.pattern)}`;
    case 'format':
      return `must be a valid ${String(p.format).toUpperCase()}`;
    case 'minimum':
      return `must be at least ${p.limit}`;
    case 'maximum':
      return `must be at most ${p.limit}`;
    case 'minLength':
      return p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters long`;
    case 'maxLength':
      return `must be at most ${p.limit} characters long`;
    default:
      return sentence(e.message ?? 'is not valid');
  }
}

function semanticChecks(raw: unknown, ctx: Context): void {
  if (!isObj(raw)) return;
  serverChecks(raw, ctx);
  const identity = isObj(raw.identity) ? raw.identity : {};
  const issuers: unknown[] = Array.isArray(identity.issuers) ? identity.issuers : [];
  issuerBindingChecks(issuers, ctx);
  httpsChecks(identity, issuers, ctx);
  scopeChecks(identity, ctx);
  if (isObj(raw.console)) consoleChecks(raw.console, isObj(raw.identity), issuers, ctx);
  const storage = isObj(raw.storage) ? raw.storage : {};
  if (storage.driver === 'postgres' && !storage.postgresUrl && !ctx.unset.has('storage.postgresUrl')) {
    ctx.add(['storage', 'driver'], 'the `postgres` driver needs `postgresUrl`');
  }
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

/** publicUrl + /mcp, or the listen address (loopback names as they are). */
function defaultResource(g: Config['gateway']): string {
  if (g.publicUrl) return `${g.publicUrl.replace(/\/+$/, '')}/mcp`;
  const host = g.listen.host.includes(':') ? `[${g.listen.host}]` : g.listen.host;
  return `http://${host}:${g.listen.port}/mcp`;
}

/** The validator has filled every default; what is left is making paths absolute. */
function normalise(r: RawConfig, source: string, configDir: string): Config {
  const gateway = r.gateway as Config['gateway'];
  const storage = r.storage as Config['storage'];
  const stateDir = resolve(configDir, gateway.stateDir);
  const servers = r.servers.map((s) =>
    s.transport === 'stdio'
      ? { ...s, env: s.env ?? {}, ...(s.cwd === undefined ? {} : { cwd: resolve(configDir, s.cwd) }) }
      : { ...s, headers: s.headers ?? {} },
  );
  return {
    source: source === MEMORY_SOURCE ? source : resolve(source),
    gateway: { ...gateway, stateDir },
    storage: { ...storage, sqlitePath: resolve(stateDir, storage.sqlitePath) },
    inventory: r.inventory as Config['inventory'],
    audit: { ...(r.audit as Config['audit']), exports: (r.audit?.exports ?? []) as Config['audit']['exports'] },
    ...(r.limits ? { limits: r.limits as Config['limits'] } : {}),
    secrets: r.secrets as Config['secrets'],
    approvals: r.approvals as Config['approvals'],
    ...(r.identity
      ? {
          identity: {
            ...r.identity,
            resource: r.identity.resource ?? defaultResource(gateway),
            ...(r.identity.resource ? {} : { resourceFromListen: true }),
          } as Config['identity'],
        }
      : {}),
    ...(r.console ? { console: r.console as Config['console'] } : {}),
    servers: servers as Config['servers'],
  };
}
