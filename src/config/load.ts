/**
 * Loading the YAML configuration: parse keeping node positions, substitute ${VAR} references,
 * validate against the schema (which also fills its defaults), check what a schema cannot (unique
 * names, limits that must agree) and make paths absolute. A YAML syntax error stops there; past
 * that, every problem is reported at once, the policy files' with the config's, sorted by line (the
 * config's first), each as `file:line:column: key.path: message`. Messages never echo configuration values: a value may have come from the environment,
 * and those may be secrets.
 */
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { position, sentence, syntaxError, type Path } from '../util/yaml-positions.ts';
import type { Config, RawConfig } from './schema.ts';
import { DEFAULT_STATE_DIR } from './defaults.ts';
import { compileAll } from '../policy/compile.ts';
import { PolicyError } from '../policy/model.ts';
import { unknownToolWarnings } from '../policy/unknown-tools.ts';
import { ConfigFileError, readConfigText } from './read-text.ts';
import { context, isObj, sorted, type ConfigIssue, type Context } from './issues.ts';
import { substitute, substituteAll } from './references.ts';
import { literalKeyPaths } from './literal-keys.ts';
import { literalPasswordPaths } from './literal-passwords.ts';
import { semanticChecks } from './semantic-checks.ts';
import { validate } from './validate.ts';

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

/** `warnings`, when given, receives what loads but should change (a credential in clear), sorted like issues. */
export async function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  warnings?: ConfigIssue[],
): Promise<Config> {
  return parseConfig(readConfigText(path), path, env, warnings);
}

/** Parse configuration text; `source` names it in messages and anchors relative paths. */
export function parseConfig(
  text: string,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
  warnings?: ConfigIssue[],
): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, uniqueKeys: false, prettyErrors: false });
  const ctx = context(doc, lineCounter, source);
  // After the first syntax error the parse is unreliable, and what follows is mostly its echo.
  const syntax = doc.errors[0];
  if (syntax) {
    const said = syntaxError(text, syntax);
    const at = position(lineCounter, said.offset);
    let message = said.message;
    // `{ port: ${PORT} }`: inside `{ }` a brace is YAML's, so the reference breaks the mapping.
    if (/flow-map|flow map|flow collection/i.test(syntax.message) && /\$\{/.test(text.split('\n')[at.line - 1] ?? ''))
      message +=
        // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, quoted for the reader
        ': a `${...}` reference cannot stand unquoted inside `{ }`: quote it ("${VAR}") where the value is text, or write this mapping one key per line, where an unquoted reference that yields a number or boolean is read as one (`port: ${PORT:-8765}`)';
    throw new ConfigError([{ file: source, ...at, path: '', message }]);
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
  semanticChecks(raw, ctx, { stateDir, configDir });
  // The policy files are read and compiled even when the config has problems: every problem of the
  // load is said at once, the config's first, then each policy file's.
  const policy = loadPolicy(raw, configDir, ctx);
  if (ctx.issues.length) throw new ConfigError(sorted(ctx.issues, source));
  const config = normalise(raw as RawConfig, source, configDir);
  if (policy && (raw as RawConfig).policy?.unknownTools === 'error') {
    // The servers only: what they list is not known here (src/inventory/policy-names.ts adds it elsewhere).
    const servers = new Set(config.servers.map((s) => s.name));
    for (const w of unknownToolWarnings(policy.compiled, { servers, separator: config.gateway.namespaceSeparator }))
      ctx.issues.push({ file: w.file, line: w.line, column: 1, path: 'policy', message: w.message });
  }
  if (ctx.issues.length) throw new ConfigError(sorted(ctx.issues, source));
  warnings?.push(...sorted(ctx.warnings, source));
  // Said by the readiness check too (item 2.2), which sees the config only as loaded.
  const literal = isObj(raw) ? literalPasswordPaths(raw, doc, ctx.references, ctx.unset) : [];
  const keys = isObj(raw) ? literalKeyPaths(raw, doc, ctx.references, ctx.unset) : [];
  return {
    ...config,
    ...(policy ? { policy: { ...policy, ...unknownTools(raw as RawConfig) } } : {}),
    ...(literal.length ? { literalPasswords: literal } : {}),
    ...(keys.length ? { literalKeys: keys } : {}),
  };
}

/** `policy.unknownTools` as written, kept for the reload's comparison (src/config/weakening-policy.ts). */
const unknownTools = (raw: RawConfig) => (raw.policy?.unknownTools ? { unknownTools: raw.policy.unknownTools } : {});

/** Read and compile the policy files; their problems join the config's, at their own file and line. */
function loadPolicy(raw: unknown, configDir: string, ctx: Context): Config['policy'] {
  // Read only when the config names its files as it should (its own errors say so otherwise).
  const files: unknown = isObj(raw) && isObj(raw.policy) ? raw.policy.files : undefined;
  if (!Array.isArray(files) || !files.every((f) => typeof f === 'string') || ctx.unset.has('policy.files'))
    return undefined;
  const inputs: Array<{ text: string; source: string }> = [];
  let unread = false;
  files.forEach((f: string, i) => {
    const path = resolve(configDir, f);
    try {
      inputs.push({ text: readConfigText(path), source: path });
    } catch (err) {
      const why = err instanceof ConfigFileError ? err.message : ((err as NodeJS.ErrnoException).code ?? 'error');
      ctx.add(['policy', 'files', i], `cannot read \`${f}\` (${why})`);
      unread = true;
    }
  });
  if (unread || files.some((_, i) => ctx.unset.has(`policy.files[${i}]`))) return undefined;
  try {
    const identity = isObj(raw) && isObj(raw.identity) ? raw.identity : {};
    const issuers = Array.isArray(identity.issuers) ? identity.issuers.length : 0;
    // Each issuer's subjects are its own namespace: with several, `alice` alone names nobody in particular.
    const refuseBareSubjects =
      issuers > 1 ? `identity names ${issuers} issuers, whose subjects are separate namespaces` : undefined;
    return { files: inputs.map((x) => x.source), compiled: compileAll(inputs, { refuseBareSubjects }) };
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    for (const is of err.issues)
      ctx.issues.push({ file: is.file, line: is.line, column: is.column, path: is.path, message: is.message });
    return undefined;
  }
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
