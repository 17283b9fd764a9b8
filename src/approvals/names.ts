/**
 * The names of what a request acts on and by (server, tool, target, arguments such as `path` or
 * `repo`, requester): where a look-alike from another script would make an approver misread the
 * action. Pages and the CLI show them as identifiers (marks.ts) and say which hold characters
 * outside ASCII.
 */
import type { ApprovalRequest } from '../model/approval.ts';
import { identifier, outsideAscii } from '../util/marks.ts';

/** Arguments that name what is acted on: shown as identifiers (outside ASCII with code points). */
export const NAME_FIELDS: ReadonlySet<string> = new Set([
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
  'branch',
  'to',
]);

function record(args: unknown): Record<string, unknown> {
  return args && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : {};
}

/** Arguments as JSON for a person to read, two-space indented, the values of NAME_FIELDS as identifiers. */
export function argsJson(args: unknown): string {
  if (!args || typeof args !== 'object' || Array.isArray(args)) return JSON.stringify(args ?? null, null, 2);
  const marked = (k: string, v: unknown) => (NAME_FIELDS.has(k) && typeof v === 'string' ? identifier(v) : v);
  return JSON.stringify(Object.fromEntries(Object.entries(args).map(([k, v]) => [k, marked(k, v)])), null, 2);
}

/** Which names of the request (`target`, `` `path` ``, `requester`) hold characters outside printable ASCII. */
export function namesOutsideAscii(req: ApprovalRequest): string[] {
  const named = Object.entries(record(req.args)).filter(([k, v]) => NAME_FIELDS.has(k) && typeof v === 'string');
  const names: Array<readonly [string, string | undefined]> = [
    ['server', req.server],
    ['tool', req.tool],
    ['target', req.resource],
    ...named.map(([k, v]) => [`\`${k}\``, v as string] as const),
    ['requester', req.requester.subject],
  ];
  return names.filter(([, v]) => v !== undefined && outsideAscii(v)).map(([what]) => what);
}
