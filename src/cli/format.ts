/** Tables for people, Markdown for documents, CSV for spreadsheets: one renderer per format. */
import { oneLine } from '../util/marks.ts';
import { isoTime } from '../util/iso-times.ts';

export type Cell = string | number | boolean | string[] | null | undefined;

function text(v: Cell): string {
  if (Array.isArray(v)) return v.join(' ');
  if (v === null || v === undefined) return '';
  return String(v);
}

/**
 * A cell on one line with every hidden character marked (`⟨U+202E⟩`), as the pages and the webhook
 * mark them (marks.ts): control characters from upstream names or reasons never reach the terminal.
 */
function visible(s: string): string {
  return oneLine(s);
}

export function table(columns: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map((c) => visible(text(c))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')}\n`;
}

export function markdown(columns: string[], rows: Cell[][]): string {
  const esc = (s: string) => visible(s).replace(/\|/g, '\\|');
  const out = [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const r of rows) out.push(`| ${r.map((c) => esc(text(c))).join(' | ')} |`);
  return `${out.join('\n')}\n`;
}

/** RFC 4180; a cell that a spreadsheet would run as a formula (=, +, -, @) is prefixed with `'`. */
export function csv(columns: string[], rows: Cell[][]): string {
  const cell = (v: Cell) => {
    let s = text(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${[columns, ...rows].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

export type Format = 'table' | 'json' | 'markdown' | 'csv';
export const FORMATS: Format[] = ['table', 'json', 'markdown', 'csv'];

export function render(format: Format, columns: string[], rows: Cell[][], json: unknown): string {
  if (format === 'json') return `${JSON.stringify(json, null, 2)}\n`;
  if (format === 'markdown') return markdown(columns, rows);
  if (format === 'csv') return csv(columns, rows);
  return table(columns, rows);
}

/**
 * Problems for people: at most `keep` of each kind, then how many more there are of it. A kind is the
 * file and the problem said without the stream and seq it names (`checkpoint of stream s seq 9: ...`),
 * so 34 checkpoints signed by one untrusted key read as three lines and a count, not 34 lines that
 * differ by a number. --json keeps every problem.
 */
export function problemLines(problems: ReadonlyArray<{ file: string; problem: string }>, keep = 3): string[] {
  const kinds = new Map<string, { file: string; shown: string[]; more: number; subject: string }>();
  for (const p of problems) {
    const m = /^((?:checkpoint of )?stream) \S+(?: seq \d+)?: (.*)$/s.exec(p.problem);
    const key = `${p.file}\n${m ? m[2] : p.problem}`;
    let kind = kinds.get(key);
    if (!kind) {
      kind = { file: p.file, shown: [], more: 0, subject: m?.[1] === 'stream' ? 'record' : 'checkpoint' };
      kinds.set(key, kind);
    }
    if (kind.shown.length < keep) kind.shown.push(`FAIL ${p.file}: ${p.problem}`);
    else kind.more++;
  }
  return [...kinds.values()].flatMap((k) =>
    k.more
      ? [
          ...k.shown,
          `FAIL ${k.file}: ... and ${k.more} more ${k.subject}(s) with the same problem (--json lists every one)`,
        ]
      : k.shown,
  );
}

/**
 * What `--json` prints: indented, every moment as an ISO 8601 text (records keep epoch milliseconds,
 * and some commands printed them so while keys, secrets and audit records said ISO: walk W). A number
 * under a time key that is not a plausible moment (before 2001, after 5138) is left as it is. The
 * admin API answers by the same rule (util/iso-times.ts).
 */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, isoTime, 2)}\n`;
}
