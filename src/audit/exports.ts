/**
 * The configured audit exports of a gateway: one Exporter per `audit.exports` entry, reading the
 * store after its persisted cursor (`export:<name>`) and pushing to its sink, at least once, in order.
 * Every replica runs its exports through one shared cursor, read again before every batch and only
 * ever moved forward: what one replica sent, another does not send again. Duplicates come from
 * retries and from a batch two replicas read at the same moment; every record carries (stream, seq)
 * to remove them. A `file` export writes on each replica's own disk: together the files hold the trail.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { AuditExportConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { AuditStore } from '../storage/types.ts';
import { Exporter, type ExporterStatus } from './sinks/exporter.ts';
import { FileSink } from './sinks/file.ts';
import { HttpSink } from './sinks/http.ts';
import { SyslogSink } from './sinks/syslog.ts';
import type { Sink } from './sinks/sink.ts';

function sinkFor(cfg: AuditExportConfig, stateDir: string): Sink {
  switch (cfg.type) {
    case 'file':
      return new FileSink({
        name: cfg.name,
        dir: resolve(stateDir, cfg.dir ?? 'audit-export'),
        maxBytes: cfg.maxBytes,
        daily: cfg.daily,
        maxFiles: cfg.maxFiles,
      });
    case 'http':
      return new HttpSink({
        name: cfg.name,
        url: cfg.url,
        format: cfg.format,
        headers: cfg.headers,
        timeoutMs: cfg.timeoutMs,
        splunk:
          cfg.format === 'splunk-hec'
            ? { index: cfg.index, host: hostname(), source: 'gatehouse', sourcetype: 'gatehouse:audit' }
            : undefined,
        elastic: cfg.format === 'elastic-bulk' ? { index: cfg.index ?? 'gatehouse-audit' } : undefined,
        otlp: cfg.format === 'otlp' ? { serviceName: 'gatehouse', serviceInstanceId: hostname() } : undefined,
      });
    case 'syslog':
      return new SyslogSink({
        name: cfg.name,
        host: cfg.host,
        port: cfg.port,
        transport: cfg.transport ?? 'tcp',
        format: cfg.format ?? 'rfc5424',
      });
  }
}

/** The name under which an export's position is kept in the store (audit_cursors). */
const exportCursor = (name: string): string => `export:${name}`;

/**
 * What one export has left to send, read from the store every replica shares: its cursor, how many
 * records are past it (the last position less the cursor: positions may skip a number where a
 * transaction rolled back, so this is at most that many), and when the oldest of them was written.
 * Two index seeks: read at every scrape of the metrics.
 */
export interface ExportBacklog {
  cursor: number;
  lag: number;
  oldest: string | undefined;
}

export async function exportBacklog(store: AuditStore, name: string): Promise<ExportBacklog> {
  const cursor = await store.getCursor(exportCursor(name));
  const { lastPosition, firstAt } = await store.tail(cursor);
  return {
    cursor,
    lag: Math.max(0, lastPosition - cursor),
    oldest: firstAt === undefined ? undefined : new Date(firstAt).toISOString(),
  };
}

export class AuditExports {
  readonly #exporters: Array<{ exporter: Exporter; sink: Sink }> = [];
  readonly #store: AuditStore;

  /** `failed` is told of each failed attempt, by export (the metrics count them). */
  constructor(
    configs: AuditExportConfig[],
    store: AuditStore,
    stateDir: string,
    log: Logger,
    failed: (name: string, attempts: number) => void = () => {},
  ) {
    this.#store = store;
    const source = { read: (after: number, limit: number) => store.read({ afterPosition: after, limit }) };
    const cursors = {
      get: (name: string) => store.getCursor(exportCursor(name)),
      set: (name: string, p: number) => store.setCursor(exportCursor(name), p),
    };
    for (const cfg of configs) {
      const secrets = cfg.type === 'http' ? Object.values(cfg.headers ?? {}) : [];
      const sink = sinkFor(cfg, stateDir);
      const exporter = new Exporter({
        name: cfg.name,
        sink,
        source,
        cursors,
        secrets,
        onError: (message, retryable) => {
          failed(cfg.name, 1);
          log.warn(
            { export: cfg.name, retryable, err: message },
            'audit export failing; it retries, nothing is dropped',
          );
        },
      });
      this.#exporters.push({ exporter, sink });
    }
  }

  start(): void {
    for (const e of this.#exporters) e.exporter.start();
  }

  /** A new record was written: exporters need not wait for their next poll. */
  notify(): void {
    for (const e of this.#exporters) e.exporter.notify();
  }

  /** Records each export has not sent yet, read from the shared cursor at each call. */
  async lag(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const { exporter } of this.#exporters)
      out[exporter.name] = (await exportBacklog(this.#store, exporter.name)).lag;
    return out;
  }

  status(): ExporterStatus[] {
    return this.#exporters.map((e) => e.exporter.status());
  }

  async stop(): Promise<void> {
    await Promise.allSettled(
      this.#exporters.map(async (e) => {
        await e.exporter.stop();
        await e.sink.close();
      }),
    );
  }
}
