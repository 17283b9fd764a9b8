/**
 * Compiling policy YAML into a frozen Policy. The text is either a policy file (top-level `rules`,
 * `modes`, `resources`, `defaults`) or a gateway config whose `policy:` section holds those keys (the
 * rest of the config is the config loader's business). Every problem in every source is collected
 * and thrown together as one PolicyError, each at file:line:column. A policy that compiles is one the
 * evaluator can never trip over: globs are valid, patterns are canonical, effects and classes known.
 *
 * The revision is the first 16 hex of SHA-256 over the RFC 8785 canonical JSON of what decides (rules
 * in order, extraction rules, modes, default approvers) — not file names, positions, comments or key
 * order — so it changes exactly when the policy's meaning or wording changes.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { sha256 } from '../util/sha256.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { TOOL_CLASSES, type ToolClass } from '../model/tool-class.ts';
import { canonicalId, canonicalPath, canonicalRepo, canonicalUrl, type Canon } from './canonical.ts';
import { compileGlob, globRegExp, hasWildcard, resourceGlobProblem, toolGlobProblem } from './glob.ts';
import {
  EFFECTS,
  MODES,
  PolicyError,
  RESOURCE_KINDS,
  type Approvers,
  type Effect,
  type Mode,
  type Policy,
  type PolicyIssue,
  type ResourceKind,
  type ResourcePattern,
  type ResourceRule,
  type ResourceSpec,
  type Rule,
  type SubjectMatch,
} from './model.ts';
import type { Path } from '../util/yaml-positions.ts';
import {
  isServiceKeySubject,
  ownKeySubject,
  resemblesServiceKeySubject,
  type ApproverSubject,
} from '../model/approval.ts';
import { suggest } from '../util/suggest.ts';
import { readSource, type Source } from './source.ts';
import { templateArgs } from './resources.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/; // no `:`, so ids never collide with `default:deny`

export interface PolicyText {
  text: string;
  source: string;
}

export function compile(text: string, source: string): Policy {
  return compileAll([{ text, source }]);
}

/** Several sources (config `policy:` section and policy files) make one policy, in the order given. */
export interface CompileOptions {
  /**
   * Why a bare subject (`alice`, not `{ issuer, subject }`) of approvers or of a rule's `subjects`
   * would be ambiguous, when it is (the config names several issuers, whose subjects are separate
   * namespaces): each is refused.
   */
  refuseBareSubjects?: string;
}

export function compileAll(inputs: readonly PolicyText[], opts: CompileOptions = {}): Policy {
  const acc: Acc = {
    rules: [],
    resources: [],
    modes: { tenants: {}, servers: {}, tools: {} },
    ids: new Map(),
    modeAt: new Map(),
    modesAt: {},
    issues: [],
    bareSubjects: opts.refuseBareSubjects,
  };
  for (const { text, source } of inputs) {
    let read: ReturnType<typeof readSource>;
    try {
      read = readSource(text, source);
    } catch (err) {
      if (err instanceof PolicyError) acc.issues.push(...err.issues);
      else throw err;
      continue;
    }
    section(read.value, read.source, acc);
    acc.issues.push(...read.source.issues);
  }
  if (acc.issues.length)
    throw new PolicyError(
      acc.issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column),
    );
  const meaning = {
    rules: acc.rules.map(({ at: _at, ...r }) => ({
      ...r,
      tools: r.tools?.map((g) => g.source),
      prompts: r.prompts?.map((g) => g.source),
      resources: r.resources?.map(({ re: _re, shape: _shape, ...p }) => p),
    })),
    resources: acc.resources.map((r) => ({ tool: r.tool.source, resources: r.resources })),
    modes: acc.modes,
    defaultApprovers: acc.defaultApprovers ?? null,
  };
  const revision = sha256(canonicalJson(meaning)).slice(0, 16);
  return deepFreeze({
    revision,
    rules: acc.rules,
    resources: acc.resources,
    modes: acc.modes,
    modesAt: acc.modesAt,
    defaultApprovers: acc.defaultApprovers,
    sources: inputs.map((i) => i.source),
  });
}

interface Acc {
  rules: Rule[];
  resources: ResourceRule[];
  modes: { gateway?: Mode; tenants: Record<string, Mode>; servers: Record<string, Mode>; tools: Record<string, Mode> };
  defaultApprovers?: Approvers;
  ids: Map<string, string>;
  modeAt: Map<string, string>;
  /** Where each tenant, server and tool mode is written, by `server:<name>` (and so on). */
  modesAt: Record<string, { file: string; line: number }>;
  issues: PolicyIssue[];
  /** Set when bare approver subjects are ambiguous (several issuers): why they are refused. */
  bareSubjects?: string;
}

/** Reports unknown keys (with a hint) and returns whether `v` is a mapping. */
function keys(v: unknown, path: Path, allowed: readonly string[], src: Source, what: string): v is Obj {
  if (!isObj(v)) {
    src.add(path, `${what} must be a mapping`);
    return false;
  }
  for (const k of Object.keys(v)) {
    if (allowed.includes(k)) continue;
    const hint = suggest(k, allowed);
    src.add(
      path,
      `unknown key \`${k}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}; allowed: ${allowed.map((a) => `\`${a}\``).join(', ')}`,
      k,
    );
  }
  return true;
}

function strings(v: unknown, path: Path, src: Source): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return void src.add(path, 'must be a non-empty list of strings');
  const bad = v.findIndex((s) => typeof s !== 'string' || s.length === 0);
  if (bad >= 0) return void src.add([...path, bad], 'must be a non-empty string');
  return v as string[];
}

/**
 * Approvers' and rules' subjects: `alice` or `{ issuer: https://idp.example.com, subject: alice }`
 * (issuer `gatehouse`: an API key's person); a bare one is refused when `acc.bareSubjects` says why.
 * `apikey:<name>` compiles to the service key's `{ issuer: gatehouse, subject: apikey:<name> }`.
 */
function namedSubjects(v: unknown, path: Path, src: Source, acc: Acc): ApproverSubject[] | undefined {
  if (!Array.isArray(v) || v.length === 0)
    return void src.add(path, 'must be a non-empty list of subjects, or of `{ issuer, subject }`');
  const out: ApproverSubject[] = [];
  v.forEach((s: unknown, i) => {
    const at = [...path, i];
    if (typeof s === 'string' && s.length > 0) {
      // `apikey:<name>` is the gateway's own service key, of no identity provider: never ambiguous.
      const named = ownKeySubject(s);
      if (typeof named === 'string' && resemblesServiceKeySubject(s))
        src.add(at, `\`${s}\` is written like a service key's subject but is not \`apikey:<name>\`: no person has it`);
      else if (typeof named === 'string' && acc.bareSubjects)
        src.add(at, `a bare subject \`${s}\` is ambiguous: ${acc.bareSubjects}; write \`{ issuer, subject }\``);
      out.push(named);
    } else if (!isObj(s)) src.add(at, 'must be a non-empty string, or `{ issuer, subject }`');
    else if (keys(s, at, ['issuer', 'subject'], src, 'a subject')) {
      const ok = (k: string) => typeof s[k] === 'string' && (s[k] as string).length > 0;
      for (const k of ['issuer', 'subject'].filter((x) => !ok(x))) src.add([...at, k], 'must be a non-empty string');
      if (ok('issuer') && ok('subject')) out.push({ issuer: s.issuer as string, subject: s.subject as string });
    }
  });
  return out;
}

function section(doc: unknown, src: Source, acc: Acc): void {
  const base: Path = isObj(doc) && 'policy' in doc ? ['policy'] : [];
  const v = base.length ? (doc as Obj).policy : doc;
  if (v === null || v === undefined) return; // an empty file or `policy:` with nothing in it
  if (!keys(v, base, ['rules', 'modes', 'resources', 'defaults'], src, 'the policy')) return;
  if (
    v.defaults !== undefined &&
    keys(v.defaults, [...base, 'defaults'], ['approvers'], src, '`defaults`') &&
    v.defaults.approvers !== undefined
  ) {
    if (acc.defaultApprovers)
      src.add([...base, 'defaults', 'approvers'], 'default approvers are already set in another source');
    acc.defaultApprovers = approvers(v.defaults.approvers, [...base, 'defaults', 'approvers'], src, acc);
  }
  if (v.modes !== undefined) modes(v.modes, [...base, 'modes'], src, acc);
  if (v.resources !== undefined) {
    if (!Array.isArray(v.resources)) src.add([...base, 'resources'], 'must be a list');
    else for (const [i, r] of v.resources.entries()) extraction(r, [...base, 'resources', i], src, acc);
  }
  if (v.rules !== undefined) {
    if (!Array.isArray(v.rules)) src.add([...base, 'rules'], 'must be a list');
    else for (const [i, r] of v.rules.entries()) rule(r, [...base, 'rules', i], src, acc);
  }
}

function modes(v: unknown, path: Path, src: Source, acc: Acc): void {
  if (!keys(v, path, ['gateway', 'tenants', 'servers', 'tools'], src, '`modes`')) return;
  const one = (m: unknown, at: Path, slot: string, set: (mode: Mode) => void, key?: string) => {
    if (typeof m !== 'string' || !(MODES as readonly string[]).includes(m))
      return src.add(at, `unknown mode \`${String(m)}\`; one of ${MODES.map((x) => `\`${x}\``).join(', ')}`);
    const first = acc.modeAt.get(slot);
    if (first) return src.add(at, `mode for ${slot} is already set (${first})`);
    acc.modeAt.set(slot, `${src.file}:${src.line(at)}`);
    if (key) acc.modesAt[key] = { file: src.file, line: src.line(at) };
    set(m as Mode);
  };
  if (v.gateway !== undefined)
    one(v.gateway, [...path, 'gateway'], 'the gateway', (m) => (acc.modes.gateway = m), 'gateway');
  for (const level of ['tenants', 'servers', 'tools'] as const) {
    const table = v[level];
    if (table === undefined) continue;
    if (!isObj(table)) {
      src.add([...path, level], 'must be a mapping of name to mode');
      continue;
    }
    for (const [name, m] of Object.entries(table)) {
      if (level === 'tools' && (hasWildcard(name) || toolGlobProblem(name))) {
        src.add([...path, level], `tool modes take exact namespaced names, not \`${name}\``, name);
        continue;
      }
      const kind = level.slice(0, -1);
      one(
        m,
        [...path, level, name],
        `${kind} \`${name}\``,
        (mode) => (acc.modes[level][name] = mode),
        `${kind}:${name}`,
      );
    }
  }
}

function approvers(v: unknown, path: Path, src: Source, acc: Acc): Approvers | undefined {
  if (!keys(v, path, ['roles', 'subjects', 'count'], src, '`approvers`')) return undefined;
  const out: { roles?: string[]; subjects?: ApproverSubject[]; count: 1 | 2 } = { count: 1 };
  if (v.roles !== undefined) out.roles = strings(v.roles, [...path, 'roles'], src);
  if (v.subjects !== undefined) {
    out.subjects = namedSubjects(v.subjects, [...path, 'subjects'], src, acc);
    if (Array.isArray(v.subjects)) serviceKeyApprovers(v.subjects, [...path, 'subjects'], src);
  }
  if (v.count !== undefined) {
    if (v.count !== 1 && v.count !== 2) src.add([...path, 'count'], 'must be 1 or 2');
    else out.count = v.count;
  }
  if (!out.roles && !out.subjects) src.add(path, 'name approver `roles` or `subjects`');
  return out;
}

/**
 * An approver is a person: a service key (`apikey:<name>`, made for no one) is refused on the
 * approval page whatever the rule says (approvals/lifecycle.ts, `not_a_person`), so a rule naming one
 * names nobody who can decide. Refused here, at its line, rather than leaving calls waiting.
 */
function serviceKeyApprovers(subjects: unknown[], path: Path, src: Source): void {
  subjects.forEach((s, i) => {
    const subject = isObj(s) ? s.subject : s; // whoever's issuer: no provider's token may carry `apikey:`
    if (typeof subject === 'string' && isServiceKeySubject(subject))
      src.add(
        [...path, i],
        `\`${subject}\` is a service key, and a service key cannot approve (it stands for no person): name the people or roles who decide`,
      );
  });
}

const SPEC_KEYS = ['kind', 'arg', 'template', 'root'];

function extraction(v: unknown, path: Path, src: Source, acc: Acc): void {
  if (!keys(v, path, ['tool', 'resource'], src, 'a resource rule')) return;
  if (typeof v.tool !== 'string') {
    src.add([...path, 'tool'], 'required: the tool name or glob');
    return;
  }
  const problem = toolGlobProblem(v.tool);
  if (problem) {
    src.add([...path, 'tool'], problem);
    return;
  }
  if (acc.resources.some((r) => r.tool.source === v.tool))
    src.add([...path, 'tool'], `another resource rule already covers \`${v.tool}\``);
  const list = resourceList(v.resource);
  if (list.length === 0) {
    src.add(path, 'required: `resource`', 'resource');
    return;
  }
  const specs: ResourceSpec[] = [];
  for (const [i, s] of list.entries()) {
    const at: Path = Array.isArray(v.resource) ? [...path, 'resource', i] : [...path, 'resource'];
    const spec = resourceSpec(s, at, src);
    if (spec) specs.push(spec);
  }
  acc.resources.push({ tool: compileGlob(v.tool), resources: specs, at: { file: src.file, line: src.line(path) } });
}

/** `resource:` is one spec or a list of them. */
function resourceList(resource: unknown): unknown[] {
  if (Array.isArray(resource)) return resource;
  return resource === undefined ? [] : [resource];
}

/** One spec of `resource:` at `at`, or undefined when it has a problem (added to `src`). */
function resourceSpec(s: unknown, at: Path, src: Source): ResourceSpec | undefined {
  if (!keys(s, at, SPEC_KEYS, src, '`resource`')) return undefined;
  if (!(RESOURCE_KINDS as readonly unknown[]).includes(s.kind))
    return void src.add(
      [...at, 'kind'],
      `unknown resource kind \`${String(s.kind)}\`; one of ${RESOURCE_KINDS.map((k) => `\`${k}\``).join(', ')}`,
    );
  const kind = s.kind as ResourceKind;
  if ((s.arg === undefined) === (s.template === undefined))
    return void src.add(at, 'give exactly one of `arg` and `template`');
  const spec: { kind: ResourceKind; arg?: string; template?: string; root?: string } = { kind };
  if (s.arg !== undefined) {
    if (typeof s.arg !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s.arg))
      return void src.add([...at, 'arg'], 'must be an argument name');
    spec.arg = s.arg;
  } else {
    if (kind !== 'repo' && kind !== 'id')
      return void src.add([...at, 'template'], '`template` is only for `repo` and `id`');
    const t = s.template;
    if (
      typeof t !== 'string' ||
      templateArgs(t).length === 0 ||
      /[{}]/.test(t.replace(/\{[A-Za-z_][A-Za-z0-9_.-]*\}/g, ''))
    )
      return void src.add([...at, 'template'], 'must be text with `{argument}` placeholders, like `{owner}/{repo}`');
    spec.template = t;
  }
  if (s.root !== undefined) {
    if (kind !== 'path') return void src.add([...at, 'root'], '`root` is only for `path`');
    const root = typeof s.root === 'string' ? rootOf(s.root, src.file) : undefined;
    if (typeof root === 'string') return void src.add([...at, 'root'], root);
    const c = root ? canonicalPath(root.path) : undefined;
    if (!c?.ok || c.changed)
      return void src.add([...at, 'root'], `must be a canonical absolute path${c?.ok ? ` (\`${c.value}\`)` : ''}`);
    spec.root = c.value;
  }
  return spec;
}

/**
 * A `root` as written: an absolute path, or one relative to the policy file's folder (`../data`), so
 * that a policy shipped beside the folder it guards (the quickstart's) holds wherever it is checked
 * out. A relative root of a text with no file behind it is refused: it would be relative to nothing.
 */
function rootOf(root: string, file: string): { path: string } | string {
  if (root.startsWith('/') || root === '') return { path: root };
  if (!isAbsolute(file)) return `a relative root needs a policy file to be relative to; write an absolute path`;
  return { path: resolve(dirname(file), root) };
}

const RULE_KEYS = [
  'id',
  'description',
  'subjects',
  'tools',
  'prompts',
  'classes',
  'resources',
  'effect',
  'approvers',
  'validUntil',
];

function rule(v: unknown, path: Path, src: Source, acc: Acc): void {
  if (!keys(v, path, RULE_KEYS, src, 'a rule')) return;
  const before = src.issues.length;
  const id = typeof v.id === 'string' ? v.id : '';
  if (v.id === undefined) src.add(path, 'required: `id`');
  else if (!ID.test(id)) src.add([...path, 'id'], 'must be letters, digits, `_`, `.` or `-` (at most 128, no `:`)');
  else if (acc.ids.has(id)) src.add([...path, 'id'], `duplicate rule id \`${id}\` (first at ${acc.ids.get(id)})`);
  else acc.ids.set(id, `${src.file}:${src.line([...path, 'id'])}`);
  if (v.description !== undefined && typeof v.description !== 'string')
    src.add([...path, 'description'], 'must be a string');
  const effect = v.effect as Effect;
  if (v.effect === undefined) src.add(path, 'required: `effect`');
  else if (!(EFFECTS as readonly unknown[]).includes(v.effect))
    src.add(
      [...path, 'effect'],
      `unknown effect \`${String(v.effect)}\`; one of ${EFFECTS.map((e) => `\`${e}\``).join(', ')}`,
    );
  let subjects: SubjectMatch | undefined;
  if (
    v.subjects !== undefined &&
    keys(v.subjects, [...path, 'subjects'], ['tenants', 'roles', 'clients', 'subjects'], src, '`subjects`')
  ) {
    const s: Record<string, unknown> = {};
    for (const [k, list] of Object.entries(v.subjects)) {
      const at = [...path, 'subjects', k];
      s[k] = k === 'subjects' ? namedSubjects(list, at, src, acc) : strings(list, at, src);
    }
    subjects = s as SubjectMatch;
  }
  const tools = v.tools === undefined ? undefined : strings(v.tools, [...path, 'tools'], src);
  tools?.forEach((t, i) => {
    const p = toolGlobProblem(t);
    if (p) src.add([...path, 'tools', i], p);
  });
  const prompts = v.prompts === undefined ? undefined : strings(v.prompts, [...path, 'prompts'], src);
  prompts?.forEach((t, i) => {
    const p = toolGlobProblem(t);
    if (p) src.add([...path, 'prompts', i], p);
  });
  const classes = v.classes === undefined ? undefined : strings(v.classes, [...path, 'classes'], src);
  classes?.forEach((c, i) => {
    if (!(TOOL_CLASSES as readonly string[]).includes(c))
      src.add(
        [...path, 'classes', i],
        `unknown class \`${c}\`; one of ${TOOL_CLASSES.map((x) => `\`${x}\``).join(', ')}`,
      );
  });
  let resources: ResourcePattern[] | undefined;
  if (v.resources !== undefined) {
    if (!Array.isArray(v.resources) || v.resources.length === 0)
      src.add([...path, 'resources'], 'must be a non-empty list');
    else
      resources = v.resources
        .map((p, i) => pattern(p, [...path, 'resources', i], src))
        .filter((p): p is ResourcePattern => p !== undefined);
  }
  let appr: Approvers | undefined;
  if (v.approvers !== undefined) {
    if (v.effect !== 'approve') src.add([...path, 'approvers'], '`approvers` is only for rules with `effect: approve`');
    else appr = approvers(v.approvers, [...path, 'approvers'], src, acc);
  }
  let validUntil: number | undefined;
  if (v.validUntil !== undefined) {
    const t =
      typeof v.validUntil === 'string' &&
      /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v.validUntil)
        ? Date.parse(v.validUntil)
        : NaN;
    if (!Number.isFinite(t))
      src.add([...path, 'validUntil'], 'must be a date or a date-time with a zone, like `2027-01-31T00:00:00Z`');
    else validUntil = t;
  }
  if (src.issues.length > before) return;
  const r: Rule = { id, effect, at: { file: src.file, line: src.line(path) } };
  if (v.description !== undefined) r.description = v.description as string;
  if (subjects) r.subjects = subjects;
  if (tools) r.tools = tools.map(compileGlob);
  if (prompts) r.prompts = prompts.map(compileGlob);
  if (classes) r.classes = classes as ToolClass[];
  if (resources) r.resources = resources;
  if (appr) r.approvers = appr; // else the policy's default approvers, at evaluation
  if (validUntil !== undefined) r.validUntil = validUntil;
  acc.rules.push(r);
}

const CANON: Record<ResourceKind, (v: string) => Canon> = {
  path: (v) => canonicalPath(v),
  url: canonicalUrl,
  repo: canonicalRepo,
  id: canonicalId,
};

/**
 * The kind a pattern's shape says (`value` without its `/*` when `inside`). A resource URI of another
 * scheme than http(s) (`secret://token`) is an id: resources/read judges it so.
 */
function shapeOf(value: string, inside: boolean): ResourceKind {
  if (value.startsWith('/') || value === '') return 'path';
  if (/^https?:\/\//i.test(value)) return 'url';
  if (value.includes('://')) return 'id';
  return inside || value.includes('/') ? 'repo' : 'id';
}

/** A rule's resource pattern; a pattern no canonical value could equal is an error, not a silent miss. */
function pattern(v: unknown, path: Path, src: Source): ResourcePattern | undefined {
  const o = typeof v === 'string' ? { pattern: v } : v;
  if (!keys(o, path, ['pattern', 'kind', 'caseInsensitive'], src, 'a resource pattern')) return undefined;
  const text = o.pattern;
  if (typeof text !== 'string') return void src.add(path, 'required: `pattern`');
  if (o.kind !== undefined && !(RESOURCE_KINDS as readonly unknown[]).includes(o.kind))
    return void src.add([...path, 'kind'], `unknown resource kind \`${String(o.kind)}\``);
  if (o.caseInsensitive !== undefined && typeof o.caseInsensitive !== 'boolean')
    return void src.add([...path, 'caseInsensitive'], 'must be true or false');
  const problem = resourceGlobProblem(text);
  if (problem) return void src.add(path, problem);
  const ci = o.caseInsensitive === true;
  const given = o.kind as ResourceKind | undefined;
  const inside = text.endsWith('/*') && !hasWildcard(text.slice(0, -2));
  const value = inside ? text.slice(0, -2) : text;
  if (!inside && hasWildcard(text)) {
    if (given && given !== 'id')
      return void src.add(path, `globs match \`id\` resources only; use \`prefix/*\` for a ${given}`);
    return { source: text, kind: 'id', match: 'glob', value: text, caseInsensitive: ci, re: globRegExp(text, ci) };
  }
  // Without a kind, the shape says which canonical form to hold the pattern to.
  const kind: ResourceKind = given ?? shapeOf(value, inside);
  if (value !== '') {
    const c = inside && kind !== 'path' ? canonicalId(value) : CANON[kind](value);
    if (!c.ok) return void src.add(path, c.reason);
    if (c.changed) return void src.add(path, `pattern is not canonical (write \`${c.value}\`)`);
  }
  const out: ResourcePattern = {
    source: text,
    match: inside ? 'inside' : 'exact',
    value: ci ? value.toLowerCase() : value,
    caseInsensitive: ci,
    shape: kind,
  };
  if (given) out.kind = given;
  return out;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Obj)[k]);
  }
  return v;
}
