/** The formats `gatehouse audit export` writes, for incident hand-off: the sinks' own formatters. */
import { hostname } from 'node:os';
import type { AuditEvent } from '../model/audit-event.ts';
import { cef, elasticBulk, jsonl, otlpLogs, rfc5424, splunkHec } from './sinks/formats.ts';

export const EXPORT_FORMATS = ['jsonl', 'splunk-hec', 'elastic-bulk', 'otlp', 'rfc5424', 'cef'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function formatRecords(format: ExportFormat, events: AuditEvent[]): string {
  const host = hostname();
  switch (format) {
    case 'jsonl':
      return events.map(jsonl).join('');
    case 'splunk-hec':
      return events
        .map((e) => `${splunkHec(e, { host, source: 'gatehouse', sourcetype: 'gatehouse:audit' })}\n`)
        .join('');
    case 'elastic-bulk':
      return elasticBulk(events, 'gatehouse-audit');
    case 'otlp':
      return `${JSON.stringify(otlpLogs(events, { serviceName: 'gatehouse', serviceInstanceId: host }))}\n`;
    case 'rfc5424':
      return events.map((e) => `${rfc5424(e, { appName: 'gatehouse', hostname: host, facility: 13 })}\n`).join('');
    case 'cef':
      return events.map((e) => `${cef(e)}\n`).join('');
  }
}
