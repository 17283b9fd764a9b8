/**
 * A small, bounded Server-Sent Events parser (the WHATWG event-stream rules) for upstream streams:
 * `event`, `data` (multi-line), `id`, `retry`; comments ignored; CRLF, LF or CR line ends; a leading
 * BOM dropped. Lines are cut on bytes and decoded whole, so a UTF-8 character split across chunks
 * arrives intact, and each byte is scanned once whatever the chunking. An event whose data would
 * exceed `maxEventBytes`, or that does not fit in the gateway's budget of bytes held from upstreams
 * (`budget`, taken as the event grows and given back when it is dispatched, refused or `end()`
 * discards it), throws `SseTooLargeError`: a hostile upstream cannot grow our memory without bound.
 * With `drop`, such an event is dropped instead and the stream read on: the rest of it is skipped
 * unread, never held nor decoded (`droppedEvents`). As the standard says, an event not terminated by
 * a blank line is discarded. An event whose data is not valid UTF-8 is dropped whole and counted
 * (`invalidEvents`): a message is never decoded with U+FFFD in place of what the upstream sent and
 * then acted on. Event types over 64 bytes and ids over 1 KiB are not kept (nothing reads them).
 */
import type { ByteBudget } from '../util/byte-budget.ts';

export interface SseEvent {
  /** `message` unless the event named another type. */
  event: string;
  data: string;
  /** The last event id seen on the stream so far (`''` if none). */
  id: string;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024;
/** Largest notification (or request of the server's outside a call) unless the server's `messages.maxNotificationBytes` says otherwise. */
export const DEFAULT_MAX_NOTIFICATION_BYTES = 1024 * 1024;

export class SseTooLargeError extends Error {
  /** True when the event did not fit in the budget of bytes held from upstreams (not its own size). */
  readonly overBudget: boolean;
  constructor(max: number, overBudget = false) {
    super(overBudget ? 'sse event does not fit in the upstream byte budget' : `sse event larger than ${max} bytes`);
    this.name = 'SseTooLargeError';
    this.overBudget = overBudget;
  }
}

export interface SseOptions {
  /** Shared with every upstream reader: what this parser holds is taken from it. */
  budget?: ByteBudget;
  /** Drop an event that is too large (or over budget) and read on, instead of throwing. */
  drop?: boolean;
}

const MAX_TYPE_BYTES = 64;
const MAX_ID_BYTES = 1024;

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

/** Push-style parser: feed it chunks, it returns the events they complete. Keeps stream state. */
export class SseParser {
  /** The last event id seen (what a client sends back as Last-Event-ID). */
  lastEventId = '';
  /** The reconnection delay the server asked for with `retry:`, in milliseconds. */
  retryMs: number | undefined;
  readonly #max: number;
  readonly #budget: ByteBudget | undefined;
  readonly #drop: boolean;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #dataBytes = 0;
  /** Taken from the budget: #partialBytes + #dataBytes. */
  #held = 0;
  #type = '';
  #data = '';
  #hasData = false;
  #invalid = false;
  /** Events dropped because their data was not valid UTF-8. */
  invalidEvents = 0;
  /** Events dropped unread (`drop`) because they were too large; of them, those over the budget. */
  droppedEvents = 0;
  droppedOverBudget = 0;
  /** Dropping the rest of an event (`drop`); `#midLine`: the line being skipped has begun. */
  #skipping = false;
  #midLine = false;
  #afterCr = false;
  #firstLine = true;

  constructor(maxEventBytes = DEFAULT_MAX_EVENT_BYTES, opts: SseOptions = {}) {
    this.#max = maxEventBytes;
    this.#budget = opts.budget;
    this.#drop = Boolean(opts.drop);
  }

  /** Bytes held now (taken from the budget). */
  get held(): number {
    return this.#held;
  }

  push(chunk: Uint8Array): SseEvent[] {
    const out: SseEvent[] = [];
    if (chunk.length === 0) return out;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    if (this.#afterCr) {
      this.#afterCr = false;
      if (buf[0] === LF) pos = 1; // the LF of a CRLF cut between two chunks
    }
    let lf = -2;
    let cr = -2;
    while (pos < buf.length) {
      if (lf !== -1 && lf < pos) lf = buf.indexOf(LF, pos);
      if (cr !== -1 && cr < pos) cr = buf.indexOf(CR, pos);
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        end = cr;
        if (cr + 1 === buf.length) this.#afterCr = true;
        next = buf[cr + 1] === LF ? cr + 2 : cr + 1;
      } else if (lf >= 0) {
        end = lf;
        next = lf + 1;
      } else break;
      if (this.#skipping) this.#skip(end === pos);
      else if (this.#partialBytes === 0) this.#line(buf, pos, end, out);
      else if (this.#dataBytes + this.#partialBytes + (end - pos) > this.#max) this.#over(false, false);
      else {
        const line = Buffer.concat([...this.#partial, buf.subarray(pos, end)]);
        this.#unhold(this.#partialBytes);
        this.#partial = [];
        this.#partialBytes = 0;
        this.#line(line, 0, line.length, out);
      }
      pos = next;
    }
    if (pos < buf.length) {
      if (this.#skipping) this.#midLine = true;
      else if (this.#hold(buf.length - pos, true)) {
        this.#partial.push(Buffer.from(buf.subarray(pos))); // a copy: the producer may reuse its chunk
        this.#partialBytes += buf.length - pos;
      }
    }
    return out;
  }

  /**
   * The stream ended (or failed, or was cancelled): an event not terminated is discarded, as the
   * standard says, and what it held is given back. The last event id and retry delay are kept for a
   * resumption, which is a new stream.
   */
  end(): void {
    this.#reset();
    this.#skipping = false;
    this.#midLine = false;
    this.#afterCr = false;
    this.#firstLine = true;
  }

  /** Takes `bytes` more for the event being read; false (and the event refused) when they are over a bound. */
  #hold(bytes: number, midLine = false): boolean {
    if (this.#dataBytes + this.#partialBytes + bytes > this.#max) return this.#over(false, midLine);
    if (this.#budget && !this.#budget.take(bytes)) return this.#over(true, midLine);
    if (this.#budget) this.#held += bytes;
    return true;
  }

  #unhold(bytes: number): void {
    if (!this.#budget) return;
    const n = Math.min(bytes, this.#held);
    this.#held -= n;
    this.#budget.give(n);
  }

  /** The event being read is over a bound: given back, then thrown, or (`drop`) skipped to its end. */
  #over(overBudget: boolean, midLine: boolean): false {
    this.#reset();
    if (!this.#drop) throw new SseTooLargeError(this.#max, overBudget);
    this.droppedEvents++;
    if (overBudget) this.droppedOverBudget++;
    this.#skipping = true;
    this.#midLine = midLine;
    return false;
  }

  /** A line of an event being dropped: ignored, and the blank line that ends the event ends the dropping. */
  #skip(empty: boolean): void {
    if (this.#midLine) this.#midLine = false;
    else if (empty) this.#skipping = false;
  }

  /** Forgets the event being read and gives back what it held. */
  #reset(): void {
    if (this.#budget) this.#budget.give(this.#held);
    this.#held = 0;
    this.#partial = [];
    this.#partialBytes = 0;
    this.#dataBytes = 0;
    this.#invalid = false;
    this.#type = '';
    this.#data = '';
    this.#hasData = false;
  }

  #line(b: Buffer, start: number, end: number, out: SseEvent[]): void {
    let s = start;
    if (this.#firstLine) {
      this.#firstLine = false;
      if (end - s >= 3 && b[s] === 0xef && b[s + 1] === 0xbb && b[s + 2] === 0xbf) s += 3;
    }
    if (s === end) {
      this.#dispatch(out);
      return;
    }
    if (b[s] === COLON) return; // comment
    let colon = s;
    while (colon < end && b[colon] !== COLON) colon++;
    if (colon - s > 5) return; // no field we know is that long
    const field = b.toString('latin1', s, colon);
    let v = colon < end ? colon + 1 : end;
    if (v < end && b[v] === SPACE) v++;
    switch (field) {
      case 'data': {
        if (!this.#hold(end - v + 1)) return;
        this.#dataBytes += end - v + 1;
        let value: string;
        try {
          value = UTF8.decode(b.subarray(v, end));
        } catch {
          // Not UTF-8: the whole event is dropped (counted), never decoded with U+FFFD and passed on.
          this.#invalid = true;
          value = '';
        }
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        return;
      }
      case 'event':
        // No reader acts on a type this long (they want `message` or `endpoint`): not kept.
        this.#type = end - v > MAX_TYPE_BYTES ? '\u0000' : b.toString('utf8', v, end);
        return;
      case 'id':
        if (end - v > MAX_ID_BYTES) return; // ignored, as an id with NUL is
        for (let i = v; i < end; i++) if (b[i] === 0) return; // an id with NUL is ignored
        this.lastEventId = b.toString('utf8', v, end);
        return;
      case 'retry': {
        const text = b.toString('latin1', v, end);
        if (/^\d{1,9}$/.test(text)) this.retryMs = Number(text);
        return;
      }
    }
  }

  #dispatch(out: SseEvent[]): void {
    if (this.#invalid) this.invalidEvents++;
    else if (this.#hasData) out.push({ event: this.#type || 'message', data: this.#data, id: this.lastEventId });
    this.#unhold(this.#dataBytes);
    this.#invalid = false;
    this.#type = '';
    this.#data = '';
    this.#hasData = false;
    this.#dataBytes = 0;
  }
}
