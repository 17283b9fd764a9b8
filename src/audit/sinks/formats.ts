/**
 * Wire formats for exporting audit records to SIEMs. Pure functions: no I/O, no clock, no globals.
 *
 * Rule shared by every line-oriented format (JSON Lines, syslog, CEF): no field value may ever put a
 * raw line break or control character on the wire, whatever an upstream, a client or a tool name
 * carried. JSON formats get that from JSON escaping (plus U+2028/U+2029, which some line readers
 * split on); syslog and CEF escape what their spec defines and replace any other control character
 * with U+FFFD. Syslog's MSG and OTLP's body always carry the exact record as JSON, so a lossy
 * replacement in an indexing field never loses the original value.
 */
import type { AuditEvent } from '../../model/audit-event.ts';
import { GATEWAY_INFO } from '../../protocol/era.ts';
import { asciiJson } from '../../util/ascii-json.ts';

const PRODUCT_VERSION: string = GATEWAY_INFO.version;
/** Private Enterprise Number reserved for documentation (RFC 5612); replace when Gatehouse has its own. */
const SD_ID = 'gatehouse@32473';

/**
 * JSON text with DEL, C1 controls (NEL U+0085 among them) and U+2028/U+2029 escaped as well: legal raw
 * in JSON, but some line readers split on them. Valid JSON, same value, one line.
 */
function lineJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** One JSON Lines line: the record as is, terminated by '\n' (so a file is `events.map(jsonl).join('')`). */
export function jsonl(e: AuditEvent): string {
  return `${lineJson(e)}\n`;
}

// ---- severity -------------------------------------------------------------------------------------

export type Level = 'info' | 'warning' | 'error';

/** refused / error → warning; unknown (a call whose outcome was lost) → error; anything else → info. */
export function level(e: AuditEvent): Level {
  if (e.outcome === 'unknown' || e.kind === 'call.unknown') return 'error';
  if (e.outcome === 'refused' || e.outcome === 'error' || e.kind === 'call.refused') return 'warning';
  return 'info';
}

const SYSLOG_SEVERITY: Record<Level, number> = { info: 6, warning: 4, error: 3 };
const CEF_SEVERITY: Record<Level, number> = { info: 3, warning: 6, error: 8 };
const OTLP_SEVERITY: Record<Level, [number, string]> = {
  info: [9, 'INFO'],
  warning: [13, 'WARN'],
  error: [17, 'ERROR'],
};

/** Milliseconds since the epoch of the record's time, or undefined when it does not parse. */
function epochMs(e: AuditEvent): number | undefined {
  const ms = Date.parse(e.time);
  return Number.isFinite(ms) ? ms : undefined;
}

// ---- Splunk HEC ------------------------------------------------------------------------------------

export interface SplunkHecOptions {
  index?: string;
  sourcetype?: string;
  source?: string;
  host?: string;
}

/**
 * One HEC event (JSON text, one line). Several are sent newline-concatenated in one request.
 * `fields` (indexed fields) carry stream and seq so duplicates are found by a search; seq is a string
 * there because HEC indexed fields are strings. `time` is epoch seconds with milliseconds.
 */
export function splunkHec(e: AuditEvent, opts: SplunkHecOptions = {}): string {
  const ms = epochMs(e);
  return lineJson({
    time: ms === undefined ? undefined : ms / 1000,
    host: opts.host,
    source: opts.source ?? 'gatehouse',
    sourcetype: opts.sourcetype ?? 'gatehouse:audit',
    index: opts.index,
    event: e,
    fields: { stream: e.stream, seq: String(e.seq) },
  });
}

// ---- Elasticsearch / OpenSearch _bulk --------------------------------------------------------------

/** The document id: (stream, seq) identifies a record, so a retried send overwrites instead of duplicating. */
function docId(e: AuditEvent): string {
  return `${e.stream}:${e.seq}`;
}

/**
 * An NDJSON `_bulk` body (ends with '\n' as the API requires). `op` 'create' is for data streams
 * (which refuse 'index'); a retried 'create' answers 409 per duplicate, which the HttpSink accepts.
 */
export function elasticBulk(events: AuditEvent[], index: string, op: 'index' | 'create' = 'index'): string {
  let out = '';
  for (const e of events) out += `${lineJson({ [op]: { _index: index, _id: docId(e) } })}\n${lineJson(e)}\n`;
  return out;
}

// ---- RFC 5424 syslog -------------------------------------------------------------------------------

export interface SyslogOptions {
  appName: string;
  hostname: string;
  /** 0..23 (e.g. 13 log audit, 10 authpriv, 16..23 local0..7). */
  facility: number;
  procId?: string;
}

/** A header field: PRINTUSASCII only (33..126), at most `max` characters, '-' (NILVALUE) when empty. */
function headerField(v: string | undefined, max: number): string {
  const s = (v ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return s === '' ? '-' : s;
}

/** Control characters: C0, DEL, C1, line/paragraph separators. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the formats replace
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Control characters (C0, DEL, C1, line/paragraph separators) become U+FFFD. */
function noControls(v: string): string {
  return v.replace(CONTROL_CHARS, '\ufffd');
}

/** An SD-PARAM value: '"', '\' and ']' escaped with '\' (RFC 5424 §6.3.3), control characters replaced. */
export function sdValue(v: string): string {
  return noControls(v).replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** The indexing fields every structured format carries (name → value), absent ones skipped. */
function summary(e: AuditEvent): Array<[string, string]> {
  const out: Array<[string, string | number | undefined]> = [
    ['stream', e.stream],
    ['seq', e.seq],
    ['id', e.id],
    ['kind', e.kind],
    ['outcome', e.outcome],
    ['tool', e.tool],
    ['server', e.server],
    ['subject', e.actor?.subject],
    ['tenant', e.actor?.tenant],
    ['error', e.error],
    ['stage', e.stage],
    ['effect', e.decision?.effect],
  ];
  return out.filter((p): p is [string, string | number] => p[1] !== undefined).map(([k, v]) => [k, String(v)]);
}

function syslogPri(e: AuditEvent, facility: number): number {
  if (!Number.isInteger(facility) || facility < 0 || facility > 23)
    throw new RangeError('syslog facility must be 0..23');
  return facility * 8 + SYSLOG_SEVERITY[level(e)];
}

function syslogTime(e: AuditEvent): string {
  const ms = epochMs(e);
  return ms === undefined ? '-' : new Date(ms).toISOString();
}

/** The RFC 5424 header `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID` (MSGID is the record kind). */
export function syslogHeader(e: AuditEvent, opts: SyslogOptions): string {
  return `<${syslogPri(e, opts.facility)}>1 ${syslogTime(e)} ${headerField(opts.hostname, 255)} ${headerField(opts.appName, 48)} ${headerField(opts.procId, 128)} ${headerField(e.kind, 32)}`;
}

/**
 * One RFC 5424 message (no framing, no trailing newline). STRUCTURED-DATA `[gatehouse@32473 ...]`
 * holds the indexing fields; MSG is the full record as JSON made pure ASCII (every non-ASCII
 * character \u-escaped), so it needs no BOM and no receiver can mis-decode it.
 */
export function rfc5424(e: AuditEvent, opts: SyslogOptions): string {
  const sd = summary(e)
    .map(([k, v]) => ` ${k}="${sdValue(v)}"`)
    .join('');
  return `${syslogHeader(e, opts)} [${SD_ID}${sd}] ${asciiJson(e)}`;
}

// ---- CEF -------------------------------------------------------------------------------------------

/** A CEF header field: '\' and '|' escaped; line breaks and other control characters replaced. */
function cefHeader(v: string): string {
  return noControls(v).replace(/[\\|]/g, (c) => `\\${c}`);
}

/** A CEF extension value: '\' and '=' escaped, CR/LF as \r / \n, other control characters replaced. */
export function cefValue(v: string): string {
  return v
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/[\r\n]/g, (c) => (c === '\r' ? '\\r' : '\\n'))
    .replace(CONTROL_CHARS, '\ufffd');
}

/**
 * One CEF line (no trailing newline). Standard keys where one fits (rt, externalId, suser, act,
 * outcome, reason, msg, requestClientApplication), custom string/number pairs with labels otherwise.
 */
export function cef(e: AuditEvent, opts: { version?: string } = {}): string {
  const name = [e.kind, e.tool, e.outcome].filter(Boolean).join(' ');
  const ext: Array<[string, string | number | undefined]> = [
    ['rt', epochMs(e)],
    ['externalId', e.id],
    ['suser', e.actor?.subject],
    ['act', e.decision?.effect],
    ['outcome', e.outcome],
    ['reason', e.error],
    ['msg', e.decision?.reasons?.join('; ') || undefined],
    ['requestClientApplication', e.client],
    ['cs1Label', 'tool'],
    ['cs1', e.tool],
    ['cs2Label', 'stream'],
    ['cs2', e.stream],
    ['cn1Label', 'seq'],
    ['cn1', e.seq],
    ['cs3Label', 'server'],
    ['cs3', e.server],
    ['cs4Label', 'tenant'],
    ['cs4', e.actor?.tenant],
    ['cs5Label', 'runId'],
    ['cs5', e.runId],
    ['cs6Label', 'stage'],
    ['cs6', e.stage],
    ['cn2Label', 'latencyMs'],
    ['cn2', e.latencyMs],
  ];
  // Drop a label whose value is absent (label then value, always adjacent above).
  const pairs = ext.filter(([k, v], i) => v !== undefined && !(k.endsWith('Label') && ext[i + 1][1] === undefined));
  const extension = pairs.map(([k, v]) => `${k}=${cefValue(String(v))}`).join(' ');
  const head = [
    'Gatehouse',
    'Gatehouse',
    opts.version ?? PRODUCT_VERSION,
    e.kind,
    name,
    String(CEF_SEVERITY[level(e)]),
  ];
  return `CEF:0|${head.map(cefHeader).join('|')}|${extension}`;
}

// ---- OTLP/HTTP JSON logs ---------------------------------------------------------------------------

export interface OtlpResource {
  serviceName: string;
  serviceInstanceId: string;
}

type AnyValue = { stringValue: string } | { intValue: string };
interface KeyValue {
  key: string;
  value: AnyValue;
}

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });

/**
 * An OTLP `ExportLogsServiceRequest` in the OTLP/JSON encoding: int64 values (timeUnixNano, intValue)
 * as decimal strings, trace ids as hex. Attributes use the `gatehouse.audit.*` namespace.
 */
export function otlpLogs(events: AuditEvent[], resource: OtlpResource): unknown {
  const logRecords = events.map((e) => {
    const [severityNumber, severityText] = OTLP_SEVERITY[level(e)];
    const ms = epochMs(e);
    const attributes: KeyValue[] = summary(e).map(([k, v]) =>
      k === 'seq' ? { key: 'gatehouse.audit.seq', value: { intValue: v } } : str(`gatehouse.audit.${k}`, v),
    );
    return {
      timeUnixNano: ms === undefined ? '0' : (BigInt(ms) * 1_000_000n).toString(),
      severityNumber,
      severityText,
      body: { stringValue: JSON.stringify(e) },
      attributes,
      ...(e.traceId && /^[0-9a-f]{32}$/i.test(e.traceId) ? { traceId: e.traceId.toLowerCase() } : {}),
    };
  });
  return {
    resourceLogs: [
      {
        resource: {
          attributes: [
            str('service.name', resource.serviceName),
            str('service.instance.id', resource.serviceInstanceId),
          ],
        },
        scopeLogs: [{ scope: { name: 'gatehouse.audit', version: PRODUCT_VERSION }, logRecords }],
      },
    ],
  };
}
