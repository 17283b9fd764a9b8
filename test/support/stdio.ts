/**
 * A client of the stdio listener in process (src/listeners/stdio.ts) on a pair of streams: what a
 * test writes to `input` is read by the listener, and each line it answers is parsed into `lines`.
 */
import { PassThrough } from 'node:stream';
import { serveStdio } from '../../src/listeners/stdio.ts';
import type { EndpointDeps } from '../../src/listeners/mcp-endpoint.ts';

export interface StdioClient<T> {
  input: PassThrough;
  /** Every message the listener wrote, in order. */
  lines: T[];
  /** Serve the streams from `endpoint` (the gateway's: `() => t.gw.endpoint`). */
  serve(endpoint: () => EndpointDeps): void;
  /** Close stdin and wait for the listener to finish. */
  close(): Promise<void>;
}

export function stdioClient<T>(): StdioClient<T> {
  const input = new PassThrough();
  const output = new PassThrough();
  const lines: T[] = [];
  let served: Promise<void> | undefined;
  let buf = '';
  output.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  return {
    input,
    lines,
    serve: (endpoint) => {
      served = serveStdio(input, output, '', endpoint);
    },
    close: async () => {
      input.end();
      await served;
    },
  };
}
