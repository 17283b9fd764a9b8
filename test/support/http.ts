/** Plain node:http for tests: a server of the test's own on loopback, and requests sent byte for byte as written. */
import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  /** http://127.0.0.1:<port> followed by `path`. */
  url: string;
  port: number;
  /** Cut every connection (kept-alive ones too) and stop listening. */
  close(): Promise<void>;
}

/** Listen with `server` on a free loopback port. */
export async function listenOnLoopback(server: Server, path = ''): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * One request through node:http, its headers sent exactly as given: as a list of lines (name, value,
 * name, value...; a name may repeat, which fetch would join into one header) or as an object. Unlike
 * fetch, a `host` header of the test's choosing is sent as it is. The answer's status, headers and text.
 */
export function rawRequest(
  url: string,
  method: string,
  headers: string[] | Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
