/**
 * JSON text that is pure printable ASCII: every non-ASCII code unit as \uXXXX (same value). For text
 * that lands where a raw character could mislead or break a reader: syslog lines, and log lines
 * naming what a server sent (a right-to-left override or a zero-width character would spoof them).
 */
export function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
