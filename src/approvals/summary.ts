/**
 * Plain-language summaries of an action ("Create issue Fix login in acme/web"), with hidden characters
 * made visible (marks.ts). Output here is plain TEXT: every renderer (page.ts, webhook.ts) escapes it
 * for its own context.
 */
import { words } from '../inventory/classify.ts';
import { identifier, oneLine } from '../util/marks.ts';
import { NAME_FIELDS } from './names.ts';

/** Namespaced tool name (`github__create_issue`) or bare tool name -> template. */
export type SummaryTemplates = Readonly<Record<string, string>>;

const MAX_VALUE_CHARS = 80;

/** Cut to `max` code points (never inside a surrogate pair), with an ellipsis when cut. */
export function truncate(text: string, max = MAX_VALUE_CHARS): string {
  const cps = Array.from(text);
  return cps.length <= max ? text : `${cps.slice(0, max - 1).join('')}…`;
}

/** One argument value as short text: strings as they are, anything else as compact JSON. */
function valueText(value: unknown, max = MAX_VALUE_CHARS): string {
  const s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return truncate(s, max);
}

function lookup(args: unknown, path: string): { found: boolean; value?: unknown } {
  let cur: unknown = args;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return { found: false };
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur === undefined ? { found: false } : { found: true, value: cur };
}

/**
 * Fill `{name}` (or `{a.b}`) placeholders from the arguments. A missing argument shows as
 * `‹missing: name›` so a template never silently reads as a different action.
 */
export function interpolate(template: string, args: unknown): string {
  return template.replace(/\{([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\}/g, (_, name: string) => {
    const hit = lookup(args, name);
    if (!hit.found) return `‹missing: ${name}›`;
    // A value that names what is acted on (a path, a repository, a recipient) shows its look-alikes.
    return NAME_FIELDS.has(name.slice(name.lastIndexOf('.') + 1))
      ? identifier(valueText(hit.value))
      : valueText(hit.value);
  });
}

/** Arguments that identify what an action acts on, in order of preference for the default summary. */
const KEY_ARGS = [
  'path',
  'file',
  'filePath',
  'file_path',
  'filename',
  'source',
  'destination',
  'url',
  'uri',
  'repo',
  'repository',
  'owner',
  'title',
  'name',
  'id',
  'issue_number',
  'number',
  'branch',
  'query',
  'to',
  'subject',
];

function splitName(tool: string): { server?: string; bare: string } {
  const i = tool.indexOf('__');
  return i > 0 ? { server: tool.slice(0, i), bare: tool.slice(i + 2) } : { bare: tool };
}

/**
 * `files__write_file` + {path: '/srv/a.txt', content} -> `Write file /srv/a.txt (files)`: the tool's
 * words, up to two identifying argument values, then the server.
 */
export function defaultSummary(tool: string, args: unknown): string {
  const { server, bare } = splitName(tool);
  const ws = words(bare);
  const verb = ws.length ? ws.join(' ') : bare;
  const parts = [verb.charAt(0).toUpperCase() + verb.slice(1)];
  if (args && typeof args === 'object' && !Array.isArray(args)) {
    const rec = args as Record<string, unknown>;
    const shown = (k: string) => Object.hasOwn(rec, k) && (typeof rec[k] === 'string' || typeof rec[k] === 'number');
    // Each value with whether it names what is acted on (then its look-alikes show: marks.ts identifier).
    const values: Array<[string, boolean]> = [];
    // `{owner, repo}` reads as one thing: acme/web.
    if (shown('owner') && shown('repo')) values.push([`${rec.owner}/${rec.repo}`, true]);
    for (const k of KEY_ARGS)
      if (shown(k) && !(values.length && (k === 'owner' || k === 'repo')))
        values.push([String(rec[k]), NAME_FIELDS.has(k)]);
    for (const [v, name] of values.slice(0, 2)) parts.push(name ? identifier(valueText(v)) : valueText(v));
  }
  if (server) parts.push(`(${server})`);
  return parts.join(' ');
}

/** The summary for a call: the tool's template (namespaced name first, then bare), else the default. */
export function summarize(tool: string, args: unknown, templates: SummaryTemplates = {}): string {
  const template =
    (Object.hasOwn(templates, tool) ? templates[tool] : undefined) ??
    (Object.hasOwn(templates, splitName(tool).bare) ? templates[splitName(tool).bare] : undefined);
  return oneLine(template !== undefined ? interpolate(template, args) : defaultSummary(tool, args));
}
