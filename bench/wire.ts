/**
 * The load generator's view of a Streamable HTTP response (pure, no I/O): find the JSON-RPC response
 * with a given id in a whole body that is either `application/json` (one message or a batch) or
 * `text/event-stream` (events whose `data:` lines carry messages), and read the echoed text out of a
 * tools/call result. Kept independent of the gateway's own parsers so the benchmark checks them.
 */

export interface RpcResponse {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string };
}

function pick(message: unknown, id: number | string): RpcResponse | undefined {
  const list = Array.isArray(message) ? message : [message];
  return list.find((m) => m && typeof m === 'object' && (m as RpcResponse).id === id) as RpcResponse | undefined;
}

/** The data of each event of a complete SSE body (multi-line data joined with `\n`). */
export function sseData(body: string): string[] {
  const out: string[] = [];
  let data: string[] = [];
  for (const line of body.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length) out.push(data.join('\n'));
      data = [];
    } else if (line.startsWith('data:')) {
      data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
    }
  }
  if (data.length) out.push(data.join('\n'));
  return out;
}

/** The response with `id` in the body, or undefined when there is none; throws on malformed JSON. */
export function findResponse(contentType: string, body: string, id: number | string): RpcResponse | undefined {
  if (contentType.startsWith('text/event-stream')) {
    for (const data of sseData(body)) {
      const found = pick(JSON.parse(data), id);
      if (found) return found;
    }
    return undefined;
  }
  if (contentType.startsWith('application/json')) return pick(JSON.parse(body), id);
  throw new Error(`unexpected content type \`${contentType}\``);
}

/** The text of the first content block of a tools/call result, if it is a text block. */
export function resultText(response: RpcResponse | undefined): string | undefined {
  const content = (response?.result as { content?: { type?: string; text?: unknown }[] } | undefined)?.content;
  const first = Array.isArray(content) ? content[0] : undefined;
  return first?.type === 'text' && typeof first.text === 'string' ? first.text : undefined;
}

/** How many tools a tools/list result holds (0 when it is not one). */
export function toolCount(response: RpcResponse | undefined): number {
  const tools = (response?.result as { tools?: unknown } | undefined)?.tools;
  return Array.isArray(tools) ? tools.length : 0;
}
