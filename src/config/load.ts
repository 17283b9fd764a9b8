/**
 * Loading the YAML configuration: parse (keeping positions), substitute ${VAR} references, validate
 * against the schema, check what a schema cannot (unique names, limits that must agree), fill
 * defaults and make paths absolute. Every problem is reported at once, each with file:line:column
 * and the key path. Values that came from the environment are never echoed (they may be secrets).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ConfigSchema, HttpServer, StdioServer, type Config, type RawConfig, type ServerConfig } from './schema.ts';

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
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

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
// Servers are validated one by one against the variant their `transport` names: clearer errors.
const topSchema = { ...ConfigSchema, properties: { ...ConfigSchema.properties, servers: { type: 'array', items: { type: 'object' } } } };
const validateTop = ajv.compile(topSchema);
const validateStdio = ajv.compile(StdioServer);
const validateHttp = ajv.compile(HttpServer);

export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const abs = resolve(path);
  return parseConfig(await readFile(abs, 'utf8'), abs, env);
}

type Path = Array<string | number>;

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const file = source;
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const issues: ConfigIssue[] = [];
  const at = (offset: number | undefined, path: Path, message: string) => {
    const pos = lc.linePos(offset ?? 0);
    issues.push({ file, line: pos.line, column: pos.col, path: formatPath(path), message });
  };
  for (const e of doc.errors) {
    const msg = e.code === 'DUPLICATE_KEY' ? `duplicate key \`${/^[^:\s]*/.exec(text.slice(e.pos[0]))?.[0] ?? ''}\`` : e.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '').replace(/\.$/, '');
    at(e.pos[0], [], msg.charAt(0).toLowerCase() + msg.slice(1));
  }
  if (issues.length) throw new ConfigError(issues);

  const configDir = dirname(resolve(file));
  const rawStateDir = doc.getIn(['gateway', 'stateDir']);
  const stateDir = resolve(configDir, typeof rawStateDir === 'string' ? substitute(rawStateDir, env, () => {}) : '.gatehouse');
  const vars: NodeJS.ProcessEnv = { GATEHOUSE_STATE_DIR: stateDir, GATEHOUSE_CONFIG_DIR: configDir, ...env };
  substituteAll(doc, vars, at);
  const envPaths = new Set(issues.map((i) => i.path));
  const atSchema = (o: number | undefined, p: Path, m: string) => {
    if (!envPaths.has(formatPath(p))) at(o, p, m);
  };

  const raw = doc.toJS() as unknown;
  if (!validateTop(raw)) report(validateTop, doc, [], atSchema);
  const r = raw as RawConfig;
  (Array.isArray(r?.servers) ? r.servers : []).forEach((s: unknown, i: number) => {
    const transport = (s as { transport?: unknown })?.transport;
    const v = transport === 'stdio' ? validateStdio : transport === 'http' || transport === 'sse' ? validateHttp : undefined;
    if (!v) {
      const node = nodeAt(doc, ['servers', i, 'transport']) ?? nodeAt(doc, ['servers', i]);
      at(node?.range?.[0], ['servers', i, 'transport'], transport === undefined ? 'required: one of `stdio`, `http`, `sse`' : 'must be one of `stdio`, `http`, `sse`');
    } else if (!v(s)) report(v, doc, ['servers', i], atSchema);
  });
  if (issues.length) throw new ConfigError(sorted(issues));

  semanticChecks(r, doc, at);
  if (issues.length) throw new ConfigError(sorted(issues));
  return normalise(r, file, configDir, stateDir);
}

function sorted(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function nodeAt(doc: Document, path: Path): Node | undefined {
  const n = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return n && typeof n === 'object' && 'range' in (n as object) ? (n as Node) : undefined;
}

/** The node of the key itself (for unknown keys). */
function keyNodeAt(doc: Document, path: Path, key: string): Node | undefined {
  const parent = nodeAt(doc, path);
  if (!isMap(parent)) return parent;
  const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === key);
  return (pair?.key as Node | undefined) ?? parent;
}

const REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function substitute(value: string, vars: NodeJS.ProcessEnv, missing: (name: string) => void): string {
  return value.replace(REF, (m, name: string | undefined, def: string | undefined) => {
    if (m === '$${') return '${';
    const v = vars[name!];
    if (v !== undefined) return v;
    if (def !== undefined) return def;
    missing(name!);
    return '';
  });
}

function substituteAll(doc: Document, vars: NodeJS.ProcessEnv, at: (o: number | undefined, p: Path, m: string) => void): void {
  const walk = (node: unknown, path: Path): void => {
    if (isMap(node)) for (const pair of node.items) walk(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : '?']);
    else if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
    else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
      node.value = substitute(node.value, vars, (name) => at(node.range?.[0], path, `environment variable \`${name}\` is not set (use \${${name}:-default} for a default)`));
    }
  };
  walk(doc.contents, []);
}

function keysOf(schema: { properties?: Record<string, unknown> }): string[] {
  return Object.keys(schema.properties ?? {});
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

function schemaAt(validate: ValidateFunction, instancePath: string): { properties?: Record<string, unknown> } {
  let s = validate.schema as { properties?: Record<string, any>; items?: any; anyOf?: any[] };
  for (const seg of instancePath.split('/').filter(Boolean)) {
    if (s?.properties?.[seg]) s = s.properties[seg];
    else if (s?.items) s = s.items;
    else if (s && typeof s === 'object' && 'additionalProperties' in s && typeof (s as any).additionalProperties === 'object') s = (s as any).additionalProperties;
    else return {};
  }
  return s ?? {};
}

function report(validate: ValidateFunction, doc: Document, base: Path, at: (o: number | undefined, p: Path, m: string) => void): void {
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'if');
  const seen = new Set<string>();
  for (const e of errors) {
    const rel: Path = e.instancePath.split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
    const path = [...base, ...rel];
    let message = describe(e);
    let node = nodeAt(doc, path);
    if (e.keyword === 'additionalProperties') {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const hint = closest(key, keysOf(schemaAt(validate, e.instancePath)));
      message = `unknown key \`${key}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}`;
      node = keyNodeAt(doc, path, key);
      path.push(key);
      path.pop();
      const id = `${formatPath(path)}|${message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      at(node?.range?.[0], path, message);
      continue;
    }
    if (e.keyword === 'required') {
      const prop = (e.params as { missingProperty: string }).missingProperty;
      message = `missing required key \`${prop}\``;
    }
    const id = `${formatPath(path)}|${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    at(node?.range?.[0], path, message);
  }
}

function describe(e: ErrorObject): string {
  switch (e.keyword) {
    case 'type':
      return `must be ${(e.params as { type: string }).type === 'integer' ? 'an integer' : `a ${(e.params as { type: string }).type}`}`;
    case 'const':
      return `must be \`${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}\``;
    case 'enum':
      return `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => `\`${v}\``).join(', ')}`;
    case 'pattern':
      return 'has characters that are not allowed here';
    case 'format':
      return `must be a valid ${(e.params as { format: string }).format}`;
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'maxItems':
      return (e.message ?? 'out of range').toLowerCase();
    default:
      return (e.message ?? 'invalid').toLowerCase();
  }
}

function semanticChecks(r: RawConfig, doc: Document, at: (o: number | undefined, p: Path, m: string) => void): void {
  const names = new Map<string, number>();
  const sep = r.gateway?.namespaceSeparator ?? '__';
  r.servers.forEach((s, i) => {
    const node = nodeAt(doc, ['servers', i, 'name']);
    const first = names.get(s.name);
    if (first !== undefined) at(node?.range?.[0], ['servers', i, 'name'], `duplicate server name \`${s.name}\` (first used by servers[${first}])`);
    else names.set(s.name, i);
    if (s.name.includes(sep)) at(node?.range?.[0], ['servers', i, 'name'], `server name \`${s.name}\` contains the namespace separator \`${sep}\``);
    const t = s.timeouts;
    if (t?.maxTotalMs !== undefined && t.maxTotalMs < (t.requestMs ?? 60_000)) {
      at(nodeAt(doc, ['servers', i, 'timeouts', 'maxTotalMs'])?.range?.[0], ['servers', i, 'timeouts', 'maxTotalMs'], 'must not be smaller than requestMs');
    }
    const rs = (s as { restart?: { initialDelayMs?: number; maxDelayMs?: number } }).restart;
    if (rs?.maxDelayMs !== undefined && rs.maxDelayMs < (rs.initialDelayMs ?? 500)) {
      at(nodeAt(doc, ['servers', i, 'restart', 'maxDelayMs'])?.range?.[0], ['servers', i, 'restart', 'maxDelayMs'], 'must not be smaller than initialDelayMs');
    }
  });
  if (r.storage?.driver === 'postgres' && !r.storage.postgresUrl) {
    at(nodeAt(doc, ['storage', 'driver'])?.range?.[0], ['storage', 'driver'], 'the postgres driver needs `postgresUrl`');
  }
}

const INHERIT_DEFAULT = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'NODE_OPTIONS'];

function normalise(r: RawConfig, source: string, configDir: string, stateDir: string): Config {
  const g = r.gateway ?? {};
  const servers = r.servers.map((s): Config['servers'][number] => {
    const timeouts = { connectMs: 15_000, requestMs: 60_000, maxTotalMs: 300_000, ...(s.timeouts ?? {}) };
    if (s.transport === 'stdio') {
      return {
        ...s,
        args: s.args ?? [],
        env: s.env ?? {},
        inheritEnv: s.inheritEnv ?? INHERIT_DEFAULT,
        cwd: s.cwd ? resolve(configDir, s.cwd) : undefined,
        restart: { initialDelayMs: 500, maxDelayMs: 30_000, ...(s.restart ?? {}) },
        timeouts,
      } satisfies ServerConfig & { timeouts: typeof timeouts };
    }
    return { ...s, headers: s.headers ?? {}, timeouts };
  });
  return {
    source,
    gateway: {
      listen: { host: g.listen?.host ?? '127.0.0.1', port: g.listen?.port ?? 8765 },
      publicUrl: g.publicUrl,
      stateDir,
      allowedOrigins: g.allowedOrigins ?? [],
      allowedHosts: g.allowedHosts ?? [],
      namespaceSeparator: g.namespaceSeparator ?? '__',
      maxBodyBytes: g.maxBodyBytes ?? 4 * 1024 * 1024,
      maxJsonDepth: g.maxJsonDepth ?? 64,
      sessionIdleSeconds: g.sessionIdleSeconds ?? 3600,
      pageSize: g.pageSize ?? 500,
      allowUnauthenticated: g.allowUnauthenticated ?? 'loopback',
      trustProxy: g.trustProxy ?? false,
    },
    storage: {
      driver: r.storage?.driver ?? 'sqlite',
      sqlitePath: resolve(stateDir, r.storage?.sqlitePath ?? 'gatehouse.db'),
      postgresUrl: r.storage?.postgresUrl,
    },
    servers,
  };
}
