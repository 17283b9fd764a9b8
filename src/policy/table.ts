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
 *       class: READ
 *       args: { owner: acme, repo: widgets }
 *       expect: allow
 *       rule: read-acme           # optional: the rule id (or `default:deny`, ...) that must decide
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

/** Parse a case file. Throws PolicyError listing every problem. */
export function parseCases(text: string, file: string): TableCase[] {
  const { source: src, value } = readSource(text, file);
  const out: TableCase[] = [];
  if (!isObj(value) || !Array.isArray(value.cases))
    throw new PolicyError([
      { file, line: 1, column: 1, path: 'cases', message: 'expected `cases:` with a list of cases' },
    ]);
  unknownKeys(value, [], ['cases'], src);
  for (const [i, c] of value.cases.entries()) {
    const parsed = parseCase(c, ['cases', i], src);
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
function parseCase(c: unknown, path: Path, src: Source): TableCase | undefined {
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
  const cls = c.class as ToolClass;
  const oneOf = (k: string, allowed: readonly string[]) => {
    if (allowed.includes(c[k] as string)) return;
    const what = `one of ${allowed.join(', ')}`;
    src.add([...path, k], c[k] === undefined ? `required: \`${k}\` (${what})` : `must be ${what}`);
  };
  oneOf('class', TOOL_CLASSES);
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
  if (!name || !tool || server === undefined) return undefined;
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
