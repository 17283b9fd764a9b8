/** Tables for people, Markdown for documents, CSV for spreadsheets: one renderer per format. */

export type Cell = string | number | boolean | string[] | null | undefined;

function text(v: Cell): string {
  if (Array.isArray(v)) return v.join(' ');
  if (v === null || v === undefined) return '';
  return String(v);
}

/** Control characters (from upstream names or reasons) are shown escaped, never sent to the terminal. */
function visible(s: string): string {
  return s.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control and invisible characters are what this escapes
    /[\u0000-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
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
