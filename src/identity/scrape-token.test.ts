// The scrape token (`gateway.metricsToken`) read from a real HTTP request: one Authorization header only
// (repeats are refused at the listener's entry, as here, before anything reads a header).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatehouseError } from '../protocol/errors.ts';
import { requireScrapeToken } from './scrape-token.ts';
import { refuseRepeatedHeaders } from '../listeners/guards.ts';

let server: Server;
let port = 0;
before(async () => {
  server = createServer((req, res) => {
    try {
      refuseRepeatedHeaders(req.rawHeaders);
      requireScrapeToken(req, 'scrape-secret');
      res.end('ok');
    } catch (err) {
      res.statusCode = err instanceof GatehouseError ? err.http : 500;
      res.end(err instanceof GatehouseError ? `${err.code}: ${err.message}` : String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

/** GET with each authorization value as its own header line. */
function get(...auth: string[]): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = ['host', `127.0.0.1:${port}`, ...auth.flatMap((a) => ['authorization', a])];
    const req = request({ host: '127.0.0.1', port, path: '/metrics', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('one header with the token is served; none or a wrong one is 401', async () => {
  assert.deepEqual(await get('Bearer scrape-secret'), { status: 200, text: 'ok' });
  assert.match((await get()).text, /^E_UNAUTHENTICATED: /);
  assert.match((await get('Bearer wrong')).text, /^E_UNAUTHENTICATED: /);
});

test('two authorization headers are refused whichever holds the token', async () => {
  for (const pair of [
    ['Bearer scrape-secret', 'Bearer wrong'],
    ['Bearer wrong', 'Bearer scrape-secret'],
    ['Bearer scrape-secret', 'Bearer scrape-secret'],
  ]) {
    const r = await get(...pair);
    assert.equal(r.status, 401, pair.join(' + '));
    assert.equal(
      r.text,
      'E_INVALID_AUTH_REQUEST: the request carries 2 authorization headers: send exactly one credential',
    );
  }
});
