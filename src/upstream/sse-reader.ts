/**
 * A small, bounded Server-Sent Events parser (the WHATWG event-stream rules) for upstream streams:
 * `event`, `data` (multi-line), `id`, `retry`; comments ignored; CRLF, LF or CR line ends; a leading
 * BOM dropped. Lines are cut on bytes and decoded whole, so a UTF-8 character split across chunks
 * arrives intact, and each byte is scanned once whatever the chunking. An event whose data would
 * exceed `maxEventBytes` throws `SseTooLargeError`: a hostile upstream cannot grow our memory
 * without bound. As the standard says, an event not terminated by a blank line is discarded. An
 * event whose data is not valid UTF-8 is dropped whole and counted (`invalidEvents`): a message is
 * never decoded with U+FFFD in place of what the upstream sent and then acted on.
 */

export interface SseEvent {
  /** `message` unless the event named another type. */
  event: string;
  data: string;
  /** The last event id seen on the stream so far (`''` if none). */
  id: string;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024;

export class SseTooLargeError extends Error {
  constructor(max: number) {
    super(`sse event larger than ${max} bytes`);
    this.name = 'SseTooLargeError';
  }
}

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
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #dataBytes = 0;
  #type = '';
  #data = '';
  #hasData = false;
  #invalid = false;
  /** Events dropped because their data was not valid UTF-8. */
  invalidEvents = 0;
  #afterCr = false;
  #firstLine = true;

  constructor(maxEventBytes = DEFAULT_MAX_EVENT_BYTES) {
    this.#max = maxEventBytes;
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
      if (this.#partialBytes === 0) this.#line(buf, pos, end, out);
      else {
        this.#grow(end - pos);
        const line = Buffer.concat([...this.#partial, buf.subarray(pos, end)]);
        this.#partial = [];
        this.#partialBytes = 0;
        this.#line(line, 0, line.length, out);
      }
      pos = next;
    }
    if (pos < buf.length) {
      this.#grow(buf.length - pos);
      this.#partial.push(Buffer.from(buf.subarray(pos))); // a copy: the producer may reuse its chunk
      this.#partialBytes += buf.length - pos;
    }
    return out;
  }

  #grow(bytes: number): void {
    if (this.#dataBytes + this.#partialBytes + bytes > this.#max) throw new SseTooLargeError(this.#max);
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
        this.#dataBytes += end - v + 1;
        if (this.#dataBytes > this.#max) throw new SseTooLargeError(this.#max);
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
        this.#type = b.toString('utf8', v, end);
        return;
      case 'id':
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
    this.#invalid = false;
    this.#type = '';
    this.#data = '';
    this.#hasData = false;
    this.#dataBytes = 0;
  }
}
