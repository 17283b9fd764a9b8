/**
 * A kept outcome as a line of its file (kept-file.ts), and what a line read back must be before it
 * is recorded. The file is untrusted input when it is read (a process that stopped wrote it, or
 * someone did): a line is its text's SHA-256 and the text, `{"sum":"<hex>","body":{...}}`, the body
 * `{"v":1,"stream":...,"record":...}`; the record must be a call's outcome as the audit record
 * schema has it (schema/audit-event.schema.json), without the members its chaining adds, and it may
 * close only an open intent of the same call, written by the stream that kept it.
 */
import type { ValidateFunction } from 'ajv';
import { GENESIS, type AuditEvent } from '../model/audit-event.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { readFileSync } from 'node:fs';
import { lazyRequire } from '../util/lazy.ts';
import { sha256 } from '../util/sha256.ts';
import { wellFormed } from '../util/well-formed.ts';
import type { AuditInput } from './log.ts';

/** An outcome the store refused, as kept: its record id set, so the record written later is one and the same. */
export type KeptRecord = AuditInput & { id: string; intent: string };

/** A line read back and checked: the stream that kept it, and the record. */
export interface KeptLine {
  stream: string;
  record: KeptRecord;
}

/** The longest line written or read (a record keeps at most 32 KB of JSON of a result: calls.ts). */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Nesting past this is no record the recorder makes (its captures are bounded): refused before it is chained. */
const MAX_DEPTH = 256;
const PREFIX = '{"sum":"';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Members the chain adds to a record (log.ts): never in a kept one. */
const CHAINED = ['v', 'time', 'stream', 'seq', 'prev', 'hash', 'at'];
/** What of a call its intent and outcome both carry (calls.ts #common): a kept outcome must name the same call. */
const SAME_CALL = ['requestId', 'sessionId', 'runId', 'traceId', 'actor', 'client', 'server', 'tool'] as const;

/** The line (without its newline) that keeps `record` of stream `stream`. */
export function keptLine(stream: string, record: KeptRecord): string {
  const body = JSON.stringify({ v: 1, stream, record });
  return `${PREFIX}${sha256(body)}","body":${body}}`;
}

// Loaded with the first file read back, not at start (Ajv is about 35 ms and 2 MB: policy/arguments.ts).
const ajv = lazyRequire<typeof import('ajv')>('ajv');
const addFormats = lazyRequire<(a: InstanceType<typeof import('ajv').Ajv>) => void>('ajv-formats');
let recordSchema: ValidateFunction | undefined;

function validRecord(): ValidateFunction {
  if (!recordSchema) {
    const a = new (ajv().Ajv)({ strict: false, allErrors: false });
    addFormats()(a);
    // The committed schema (schema/, written from event-schema.ts by `npm run schema`; a test keeps it
    // current), not TypeBox's: importing event-schema.ts loaded TypeBox, about 750 modules, at every
    // start, enough module resolution for V8 to optimise Node's path functions with TurboFan (ADR 0014).
    const file = new URL('../../schema/audit-event.schema.json', import.meta.url);
    recordSchema = a.compile(JSON.parse(readFileSync(file, 'utf8')));
  }
  return recordSchema;
}

/** Whether `v` nests deeper than `max` (iterative: a hostile nesting cannot overflow the stack). */
function deeperThan(v: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [x, d] = top;
    if (x === null || typeof x !== 'object') continue;
    if (d >= max) return true;
    for (const y of Object.values(x)) stack.push([y, d + 1]);
  }
  return false;
}

/** Why the record `r` is no kept outcome, or undefined. */
function notAnOutcome(r: unknown, stream: string): string | undefined {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return 'its record is not an object';
  const rec = r as Record<string, unknown>;
  if (rec.kind !== 'call.outcome') return 'its record is not a call.outcome';
  if (typeof rec.id !== 'string' || !UUID.test(rec.id)) return 'its record has no record id';
  if (typeof rec.intent !== 'string' || !UUID.test(rec.intent)) return 'its record names no intent';
  const chained = CHAINED.find((k) => Object.hasOwn(rec, k));
  if (chained) return `its record carries \`${chained}\`, which only the chain sets`;
  if (deeperThan(rec, MAX_DEPTH)) return `its record nests deeper than ${MAX_DEPTH}`;
  const validate = validRecord();
  const candidate = { ...rec, v: 1, time: new Date(0).toISOString(), stream, seq: 1, prev: GENESIS, hash: GENESIS };
  if (!validate(candidate)) {
    const e = validate.errors?.[0];
    return `its record does not match the audit record schema (${e?.instancePath || '/'} ${e?.message ?? ''})`.slice(
      0,
      300,
    );
  }
  return undefined;
}

/** A line read back: the kept outcome, or why it is refused. */
export function readKeptLine(line: string): KeptLine | { refused: string } {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) return { refused: `longer than ${MAX_LINE_BYTES} bytes` };
  const sum = line.slice(PREFIX.length, PREFIX.length + 64);
  const head = `${PREFIX}${sum}","body":`;
  if (!line.startsWith(head) || !/^[0-9a-f]{64}$/.test(sum) || !line.endsWith('}'))
    return { refused: 'not a kept-outcome line' };
  const body = line.slice(head.length, -1);
  if (sha256(body) !== sum) return { refused: 'its checksum does not match its content (edited or damaged)' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { refused: 'not JSON' };
  }
  const p = parsed as { v?: unknown; stream?: unknown; record?: unknown };
  if (!p || typeof p !== 'object' || p.v !== 1 || Object.keys(p).length !== 3) return { refused: 'not a kept outcome' };
  if (typeof p.stream !== 'string' || !p.stream || p.stream.length > 200) return { refused: 'it names no stream' };
  const why = notAnOutcome(p.record, p.stream);
  return why ? { refused: why } : { stream: p.stream, record: p.record as KeptRecord };
}

/** Whether two members are the same value (the stored intent's keys are in RFC 8785 order, its strings well formed). */
function same(a: unknown, b: unknown): boolean {
  try {
    return canonicalJson(wellFormed(a)) === canonicalJson(wellFormed(b));
  } catch {
    return false;
  }
}

/**
 * Why the kept line `k` may not close the open intent `i`, or undefined: the intent is another
 * stream's than the one that kept it, or another call's (what an intent and its outcome both carry
 * differs), or it is `own` (this process's stream: no file of another process holds its outcomes).
 */
export function notItsIntent(k: KeptLine, i: AuditEvent, own: string): string | undefined {
  if (i.kind !== 'call.intent' || i.id !== k.record.intent) return 'it names no open intent';
  if (i.stream === own) return 'it names an intent of this process';
  if (i.stream !== k.stream) return `it names an intent of stream ${i.stream}, not of the stream that kept it`;
  const differs = SAME_CALL.find((m) => !same(i[m], k.record[m]));
  return differs ? `its \`${differs}\` is not its intent's` : undefined;
}
