/**
 * A small, bounded Server-Sent Events parser over a byte stream: `event`, `data` (multi-line), `id`;
 * comments ignored; CRLF, LF or CR line ends; UTF-8 split across chunks. An event larger than
 * `maxEventBytes` throws, so a hostile upstream cannot grow our memory without bound.
 */

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export async function* readSse(body: AsyncIterable<Uint8Array>, maxEventBytes = 64 * 1024 * 1024): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  let event = '';
  let data: string[] = [];
  let size = 0;
  let id: string | undefined;
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      let end = -1;
      let next = 0;
      for (let i = start; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (c === 10) {
          end = i;
          next = i + 1;
          break;
        }
        if (c === 13) {
          if (i + 1 >= buf.length) break; // wait: CR may be followed by LF in the next chunk
          end = i;
          next = buf.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
          break;
        }
      }
      if (end < 0) break;
      const line = buf.slice(start, end);
      start = next;
      if (line === '') {
        if (data.length) yield { event: event || 'message', data: data.join('\n'), id };
        event = '';
        data = [];
        size = 0;
        continue;
      }
      if (line.charCodeAt(0) === 58) continue; // comment
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (field === 'data') {
        size += value.length;
        if (size > maxEventBytes) throw new Error('sse event too large');
        data.push(value);
      } else if (field === 'event') event = value;
      else if (field === 'id') id = value;
    }
    buf = buf.slice(start);
    if (buf.length > maxEventBytes) throw new Error('sse line too large');
  }
  if (data.length) yield { event: event || 'message', data: data.join('\n'), id };
}
