/**
 * Finding the target resource of a call in its arguments, and matching it against rule patterns.
 *
 * Which extraction applies: a rule naming the tool exactly wins over globs; among globs the first in
 * policy order wins. No extraction rule: the call has no resources (and rules with `resources` do
 * not match it). A named argument that is missing is refused: a target the policy cannot see is not
 * a target it can allow.
 *
 * What is checked is exactly what goes upstream: for `path`, `repo` and `id` a value whose canonical
 * form differs from what was sent (`/a//b`, `acme/x/`, a non-NFC id) is REFUSED, with the canonical
 * form in the reason, so no rewrite is needed and no upstream can read the value differently. For
 * `url` the canonical form (lowercase host, default port dropped, fragment dropped) is returned with
 * `changed: true` and the argument names: the gateway must send `value` upstream in place of the raw
 * argument (or refuse the call) — URLs are too often written non-canonically to refuse them all.
 */
import { canonicalId, canonicalPath, canonicalRepo, canonicalUrl, show, typeName, type Canon } from './canonical.ts';
import { globMatches } from './glob.ts';
import type { Resource, ResourcePattern, ResourceRule, ResourceSpec } from './model.ts';

interface ExtractedResource extends Resource {
  /** The value before canonicalisation (for a template: as rendered). */
  raw: string;
  changed: boolean;
  /** The arguments the value came from. */
  args: string[];
}

export type Extraction = { ok: true; resources: ExtractedResource[] } | { ok: false; reason: string; path: string };

/** Keys that reach prototypes in naive consumers; refused anywhere in the arguments. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 64;
const MAX_NODES = 10_000;

/** The first forbidden key (by JSON path), or a refusal when the arguments are too large to scan. */
export function forbiddenKey(args: unknown): { reason: string; path: string } | undefined {
  let nodes = 0;
  const walk = (v: unknown, path: string, depth: number): { reason: string; path: string } | undefined => {
    if (++nodes > MAX_NODES || depth > MAX_DEPTH)
      return { reason: 'arguments are too large or too deeply nested to check', path };
    if (typeof v !== 'object' || v === null) return undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const r = walk(v[i], `${path}[${i}]`, depth + 1);
        if (r) return r;
      }
      return undefined;
    }
    for (const key of Object.keys(v)) {
      const at = path ? `${path}.${key}` : key;
      if (FORBIDDEN_KEYS.has(key)) return { reason: `argument key \`${key}\` is not allowed`, path: at };
      const r = walk((v as Record<string, unknown>)[key], at, depth + 1);
      if (r) return r;
    }
    return undefined;
  };
  return walk(args, '', 0);
}

/** The extraction rule for a tool: exact name first, then the first matching glob. */
export function extractionFor(rules: readonly ResourceRule[], tool: string): ResourceRule | undefined {
  return (
    rules.find((r) => r.tool.literal && r.tool.source === tool) ??
    rules.find((r) => !r.tool.literal && globMatches(r.tool, tool))
  );
}

function own(args: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(args, name) ? args[name] : undefined;
}

const TEMPLATE_PART = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

/** The argument names a template uses, in order. */
export function templateArgs(template: string): string[] {
  return [...template.matchAll(TEMPLATE_PART)].map((m) => m[1]);
}

function canonicalise(spec: ResourceSpec, raw: string): Canon {
  switch (spec.kind) {
    case 'path':
      return canonicalPath(raw, spec.root);
    case 'url':
      return canonicalUrl(raw);
    case 'repo':
      return canonicalRepo(raw);
    case 'id':
      return canonicalId(raw);
  }
}

/** Why a resource could not be extracted, and the argument(s) at fault. */
type Problem = { reason: string; path: string };

/** The raw value of a resource and the arguments it was made of. */
type Raw = { raw: string; names: string[] };

/** One `{name}` of a template: an identifier on its own, no `/` (it would shift the template's segments). */
function templatePart(args: Record<string, unknown>, name: string): { value: string } | Problem {
  const v = own(args, name);
  if (v === undefined) return { reason: `missing argument \`${name}\``, path: name };
  const c = canonicalId(v, `argument \`${name}\``);
  if (!c.ok) return { reason: c.reason, path: name };
  if (c.changed) return { reason: `argument \`${name}\` is not canonical (expected \`${show(c.value)}\`)`, path: name };
  if (c.value.includes('/'))
    return { reason: `argument \`${name}\` \`${show(c.value)}\` must not contain \`/\``, path: name };
  return { value: c.value };
}

/** A template with each `{name}` replaced by its part; the first part with a problem refuses it. */
function fromTemplate(template: string, args: Record<string, unknown>): Raw | Problem {
  const names = templateArgs(template);
  const parts: string[] = [];
  for (const name of names) {
    const part = templatePart(args, name);
    if ('reason' in part) return part;
    parts.push(part.value);
  }
  // The parts were made in the order of the template's placeholders, the order replace visits them.
  let next = 0;
  const raw = template.replace(TEMPLATE_PART, () => parts[next++]);
  return { raw, names };
}

/** The string argument `name` as it is. */
function fromArgument(name: string | undefined, args: Record<string, unknown>): Raw | Problem {
  if (name === undefined) return { reason: 'the resource rule names neither `arg` nor `template`', path: '' };
  const v = own(args, name);
  if (v === undefined) return { reason: `missing argument \`${name}\``, path: name };
  if (typeof v !== 'string') return { reason: `argument \`${name}\` must be a string, got ${typeName(v)}`, path: name };
  return { raw: v, names: [name] };
}

function extractOne(spec: ResourceSpec, args: Record<string, unknown>): ExtractedResource | Problem {
  const got = spec.template !== undefined ? fromTemplate(spec.template, args) : fromArgument(spec.arg, args);
  if ('reason' in got) return got;
  const { raw, names } = got;
  const c = canonicalise(spec, raw);
  const path = names.join(',');
  if (!c.ok) return { reason: c.reason, path };
  if (c.changed && spec.kind !== 'url')
    return { reason: `${spec.kind} \`${show(raw)}\` is not canonical (expected \`${show(c.value)}\`)`, path };
  return { kind: spec.kind, value: c.value, raw, changed: c.changed, args: names };
}

/** Extract and canonicalise the resources of one call. Never throws. */
export function extractResources(rules: readonly ResourceRule[], tool: string, args: unknown): Extraction {
  const bad = forbiddenKey(args);
  if (bad) return { ok: false, ...bad };
  const rule = extractionFor(rules, tool);
  if (!rule) return { ok: true, resources: [] };
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    return { ok: false, reason: `arguments must be an object, got ${typeName(args)}`, path: '' };
  const out: ExtractedResource[] = [];
  for (const spec of rule.resources) {
    const r = extractOne(spec, args as Record<string, unknown>);
    if ('reason' in r) return { ok: false, ...r };
    out.push(r);
  }
  return { ok: true, resources: out };
}

/**
 * Does a canonical resource match a rule pattern? `inside` is segment-aware for every kind (the value
 * must continue with `/` after the prefix); `glob` matches ids only, so a `*` can never stand for a
 * path or repo segment boundary.
 */
export function matchResource(p: ResourcePattern, r: Resource): boolean {
  if (p.kind !== undefined && p.kind !== r.kind) return false;
  const value = p.caseInsensitive ? r.value.toLowerCase() : r.value;
  switch (p.match) {
    case 'exact':
      return value === p.value;
    case 'inside':
      return p.value === ''
        ? value.startsWith('/')
        : value.startsWith(`${p.value}/`) && value.length > p.value.length + 1;
    case 'glob':
      return r.kind === 'id' && p.re.test(r.value);
  }
}
