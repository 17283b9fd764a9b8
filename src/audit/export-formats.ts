/** The formats `gatehouse audit export` writes. JSON Lines now; SIEM formats join from ./sinks. */
import type { AuditEvent } from './event.ts';

export const EXPORT_FORMATS = ['jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function formatRecords(format: ExportFormat, events: AuditEvent[]): string {
  switch (format) {
    case 'jsonl':
      return events.map((e) => `${JSON.stringify(e)}\n`).join('');
  }
}
