/**
 * A client that goes away in the middle of its request body (Content-Length: 100, 5 bytes, then the
 * connection closed) is no gateway failure: one debug line without a stack, no error, nothing else.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { capturedLog } from './support/logs.ts';

let t: TestGateway;
const { log, lines } = capturedLog('debug');

before(async () => {
  t = await startGateway('', { log });
});
after(async () => {
  await t?.close();
});

test('a body cut short by the client: logged at debug without a stack, never as an internal error', async () => {
  const { port } = new URL(t.url);
  const s = connect({ host: '127.0.0.1', port: Number(port) });
  await new Promise((resolve) => s.once('connect', resolve));
  const from = lines.length;
  s.write(
    `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
      'accept: application/json, text/event-stream\r\ncontent-length: 100\r\n\r\n{"js',
  );
  await new Promise((resolve) => setTimeout(resolve, 100)); // the gateway is reading the body
  s.destroy();
  const gone = await eventually(() => lines.slice(from).find((l) => /went away/.test(l.msg ?? '')));
  assert.equal(gone.level, 20, 'debug');
  // Whatever else comes of it has come by now: the health check answers after the body's clean-up.
  assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
  const said = lines.slice(from);
  assert.deepEqual(
    said.filter((l) => l.level >= 40),
    [],
    'no warning or error',
  );
  assert.ok(!JSON.stringify(said).includes('stack'), JSON.stringify(said));
});
