/**
 * `gatehouse policy test <file>`: a table of cases, each a call and the expected decision, run
 * against a compiled policy. The case file is YAML and is checked as strictly as the policy (unknown
 * keys, wrong types, positions in errors):
 *
 *   cases:
 *     - name: alice may read acme repos
 *       subject: { subject: alice, tenant: acme, client: cli, roles: [dev] }
 *       server: github            # optional; default: the part of `tool` before the first `__`
 *       tool: github__get_issue
 *       class: READ               # optional when the config classifies the tool
 *       args: { owner: acme, repo: widgets }
 *       expect: allow
 *       rule: read-acme           # optional: the rule id (or `default:deny`, ...) that must decide
 *
 * A case is decided with the class the gateway would act on. The operator's class in the config wins
 * at run time, so it wins here too: a case may leave `class` out for such a tool, and a case stating
 * another class is an error (it would test a decision the gateway never makes). A tool the config does
 * not classify needs the case's `class`.
 *
 * The clock for `validUntil` is the `now` passed in (the CLI passes the current time).
 */
import { TOOL_CLASSES, type ToolClass } from '../model/tool-class.ts';
import { evaluate } from './evaluate.ts';
import { EFFECTS, PolicyError, type Decision, type Effect, type EvaluationInput, type Policy } from './model.ts';
import type { Path } from '../util/yaml-positions.ts';
import { suggest } from '../util/suggest.ts';
import { readSource, type Source } from './source.ts';

export interface TableCase {
  name: string;
  input: EvaluationInput;
  expect: Effect;
  rule?: string;
  line: number;
}

export interface CaseResult {
  name: string;
  pass: boolean;
  expected: { effect: Effect; rule?: string };
  actual: Decision;
  /** Empty when passing; else lines like `effect: expected allow, got deny`. */
  diff: string[];
  line: number;
}

const CASE_KEYS = ['name', 'subject', 'server', 'tool', 'class', 'args', 'expect', 'rule'];
const SUBJECT_KEYS = ['subject', 'issuer', 'tenant', 'client', 'roles'];
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownKeys(o: Obj, path: Path, allowed: string[], src: Source): void {
  for (const k of Object.keys(o)) {
    if (allowed.includes(k)) continue;
    const hint = suggest(k, allowed);
    src.add(path, `unknown key \`${k}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}`, k);
  }
}

/** The class the config gives a namespaced tool of `server`, if it gives one. */
export type ConfiguredClass = (server: string, tool: string) => ToolClass | undefined;

/** Parse a case file. Throws PolicyError listing every problem. */
export function parseCases(text: string, file: string, configured: ConfiguredClass = () => undefined): TableCase[] {
  const { source: src, value } = readSource(text, file);
  const out: TableCase[] = [];
  if (!isObj(value) || !Array.isArray(value.cases))
    throw new PolicyError([
      { file, line: 1, column: 1, path: 'cases', message: 'expected `cases:` with a list of cases' },
    ]);
  unknownKeys(value, [], ['cases'], src);
  for (const [i, c] of value.cases.entries()) {
    const parsed = parseCase(c, ['cases', i], src, configured);
    if (parsed) out.push(parsed);
  }
  if (src.issues.length) throw new PolicyError(src.issues);
  return out;
}

/** The default server of a case: the part of its tool before the first `__`, or nothing. */
function defaultServer(tool: string | undefined): string {
  return tool?.includes('__') ? tool.slice(0, tool.indexOf('__')) : '';
}

/** One case at `path`, or undefined when it has a problem (each is added to `src`). */
function parseCase(c: unknown, path: Path, src: Source, configured: ConfiguredClass): TableCase | undefined {
  if (!isObj(c)) {
    src.add(path, 'a case must be a mapping');
    return undefined;
  }
  unknownKeys(c, path, CASE_KEYS, src);
  const str = (k: string): string | undefined =>
    typeof c[k] === 'string' && c[k] !== ''
      ? (c[k] as string)
      : void src.add([...path, k], c[k] === undefined ? `required: \`${k}\`` : 'must be a non-empty string');
  const name = str('name');
  const tool = str('tool');
  const server = c.server === undefined ? defaultServer(tool) : str('server');
  const oneOf = (k: string, allowed: readonly string[]) => {
    if (allowed.includes(c[k] as string)) return;
    const what = `one of ${allowed.join(', ')}`;
    src.add([...path, k], c[k] === undefined ? `required: \`${k}\` (${what})` : `must be ${what}`);
  };
  const cls = caseClass(c, path, src, tool && server !== undefined ? configured(server, tool) : undefined);
  oneOf('expect', EFFECTS);
  if (c.rule !== undefined) str('rule');
  const s = c.subject;
  if (!isObj(s)) {
    src.add([...path, 'subject'], 'required: a mapping with `subject`, `tenant`, `client`, `roles`');
    return undefined;
  }
  unknownKeys(s, [...path, 'subject'], SUBJECT_KEYS, src);
  for (const k of ['subject', 'issuer', 'tenant', 'client'])
    if (s[k] !== undefined && typeof s[k] !== 'string') src.add([...path, 'subject', k], 'must be a string');
  if (s.roles !== undefined && (!Array.isArray(s.roles) || s.roles.some((r) => typeof r !== 'string')))
    src.add([...path, 'subject', 'roles'], 'must be a list of strings');
  if (!name || !tool || server === undefined || !cls) return undefined;
  const principal = {
    subject: (s.subject as string) ?? '',
    ...(s.issuer !== undefined ? { issuer: s.issuer as string } : {}),
    tenant: (s.tenant as string) ?? '',
    client: (s.client as string) ?? '',
    roles: (s.roles as string[]) ?? [],
  };
  return {
    name,
    input: { principal, server, tool, toolClass: cls, arguments: c.args ?? {} },
    expect: c.expect as Effect,
    ...(c.rule !== undefined ? { rule: c.rule as string } : {}),
    line: src.line(path),
  };
}

/**
 * The class a case is decided with: the config's when it classifies the tool (a case stating another
 * is an error), else the case's own, which is then required.
 */
function caseClass(c: Obj, path: Path, src: Source, configured: ToolClass | undefined): ToolClass | undefined {
  const at = [...path, 'class'];
  const what = `one of ${TOOL_CLASSES.join(', ')}`;
  if (c.class === undefined) {
    if (!configured) src.add(at, `required: \`class\` (${what}): the config does not classify \`${String(c.tool)}\``);
    return configured;
  }
  if (!(TOOL_CLASSES as readonly unknown[]).includes(c.class)) return void src.add(at, `must be ${what}`);
  const given = c.class as ToolClass;
  if (configured && given !== configured)
    return void src.add(
      at,
      `case \`${String(c.name)}\` says class ${given}, but the config classifies \`${String(c.tool)}\` as ${configured}, the class the gateway acts on: write ${configured} or leave \`class\` out`,
    );
  return given;
}

export function runTable(policy: Policy, cases: readonly TableCase[], now: Date | number = Date.now()): CaseResult[] {
  return cases.map((c) => {
    const actual = evaluate(c.input, policy, now);
    const diff: string[] = [];
    if (actual.effect !== c.expect) diff.push(`effect: expected ${c.expect}, got ${actual.effect}`);
    if (c.rule !== undefined && actual.rule !== c.rule)
      diff.push(`rule: expected \`${c.rule}\`, got \`${actual.rule}\``);
    if (diff.length) diff.push(...actual.reasons.map((r) => `  because ${r}`));
    return {
      name: c.name,
      pass: diff.length === 0,
      expected: { effect: c.expect, ...(c.rule !== undefined ? { rule: c.rule } : {}) },
      actual,
      diff,
      line: c.line,
    };
  });
}
