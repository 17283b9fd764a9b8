/**
 * What the approver sees beside the summary: the concrete effect of the call. For a file write, the
 * diff against the file's current content (read by the lead through a READ tool); for ticket/PR-like
 * calls, a field table; otherwise the full arguments. Never a subset: every argument stays visible,
 * so nothing can hide in an argument the receipt did not think to show. Output is plain text;
 * page.ts escapes it.
 */
import { lazyRequire } from '../util/lazy.ts';

const diff = lazyRequire<typeof import('diff')>('diff');
import type { ApprovalRequest } from '../model/approval.ts';

export type Receipt =
  | { kind: 'diff'; path: string; newFile: boolean; unified: string; otherArgs?: string }
  /** `note`: why a write shows its arguments rather than its diff (the diff was too long to show). */
  | { kind: 'fields'; rows: Array<[string, string]>; note?: string }
  | { kind: 'arguments'; json: string };

export const PATH_ARGS = ['path', 'file', 'filePath', 'file_path', 'filename'] as const;
const CONTENT_ARGS = ['content', 'contents', 'text', 'data'] as const;
/** Field-table keys, in display order; any of the first group makes a call "ticket-like". */
const TICKET_KEYS = ['title', 'body', 'labels', 'assignees', 'base', 'head', 'status', 'state'];
const FIELD_ORDER = [
  'owner',
  'repo',
  'repository',
  'project',
  'issue_number',
  'pull_number',
  'number',
  'id',
  'title',
  'status',
  'state',
  'base',
  'head',
  'labels',
  'assignees',
  'reviewers',
  'milestone',
  'priority',
  'draft',
  'body',
  'description',
];

/**
 * Largest diff shown. A longer one is not cut (a cut diff hid the end of the content from an approver
 * who could still approve): the write shows its arguments instead, every one whole, as when the diff
 * is withheld.
 */
const MAX_DIFF_CHARS = 200_000;

function record(args: unknown): Record<string, unknown> | undefined {
  return args && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : undefined;
}

function firstString(rec: Record<string, unknown>, keys: readonly string[]): [string, string] | undefined {
  for (const k of keys) if (typeof rec[k] === 'string') return [k, rec[k] as string];
  return undefined;
}

/** The path and content of a whole-file write, when the arguments look like one. */
function fileWrite(args: unknown): { path: string; content: string; pathKey: string; contentKey: string } | undefined {
  const rec = record(args);
  if (!rec) return undefined;
  const p = firstString(rec, PATH_ARGS);
  const c = firstString(rec, CONTENT_ARGS);
  return p && c ? { path: p[1], content: c[1], pathKey: p[0], contentKey: c[0] } : undefined;
}

function cell(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(', ');
  return JSON.stringify(value, null, 2) ?? String(value);
}

/**
 * `currentContent`: undefined when the lead could not (or did not) read the file -> no diff;
 * null when the file does not exist -> a new-file diff; a string -> the diff against it.
 */
export function receipt(req: ApprovalRequest, opts: { currentContent?: string | null } = {}): Receipt {
  const rec = record(req.args);
  const write = fileWrite(req.args);
  if (write && opts.currentContent !== undefined) {
    const newFile = opts.currentContent === null;
    const unified = diff()
      .createTwoFilesPatch(
        newFile ? '/dev/null' : write.path,
        write.path,
        opts.currentContent ?? '',
        write.content,
        undefined,
        undefined,
        { context: 3 },
      )
      .replace(/^(?:Index: .*\n)?={3,}\n/, '') // the library's Index/separator lines: noise for one file
      .replace(/\n$/, '');
    if (unified.length > MAX_DIFF_CHARS)
      return {
        kind: 'fields',
        rows: Object.entries(rec ?? {}).map(([k, v]) => [k, cell(v)]),
        note: `The diff against the current content is too long to show (${unified.length} characters): below is every argument, whole, exactly as it will run.`,
      };
    // Arguments besides path and content (mode, encoding, create flags...) still have to be seen.
    const rest = Object.fromEntries(
      Object.entries(rec ?? {}).filter(([k]) => k !== write.pathKey && k !== write.contentKey),
    );
    const out: Receipt = { kind: 'diff', path: write.path, newFile, unified };
    if (Object.keys(rest).length) out.otherArgs = JSON.stringify(rest, null, 2);
    return out;
  }
  if (rec && TICKET_KEYS.some((k) => Object.hasOwn(rec, k))) {
    const keys = Object.keys(rec);
    const ordered = [
      ...FIELD_ORDER.filter((k) => keys.includes(k)),
      ...keys.filter((k) => !FIELD_ORDER.includes(k)).sort(),
    ];
    return { kind: 'fields', rows: ordered.map((k) => [k, cell(rec[k])]) };
  }
  return { kind: 'arguments', json: JSON.stringify(req.args ?? null, null, 2) };
}
