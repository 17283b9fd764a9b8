/**
 * A connection's requests take turns (src/listeners/request-turns.ts). Before, one connection could
 * have any number of requests in flight: walk K sent 30,000 calls back to back on one connection
 * without reading an answer, each read its API key from the store at once, and another tenant's calls
 * waited seconds for a store connection, then failed. Now one request of a connection is handled at
 * a time, at most 32 wait, and a connection that sends more is closed: what it sent past that never
 * reaches the upstream, another tenant is served meanwhile, and the closing is counted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { modernHeaders, modernMeta, postModernCall, replyOf } from './support/rpc.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-pipelined-'));
const rec = join(tmp, 'rec.jsonl');
let t: TestGateway;
const keys: Record<string, string> = {};

before(async () => {
  writeFileSync(rec, '');
  t = await startGateway(
    `${stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts'))}    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ } }\n`,
    { top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n' },
  );
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The calls of `rec__record` that reached the upstream with this note. */
const reached = (note: string) =>
  readFileSync(rec, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"') && l.includes(note)).length;

test('a connection that pipelines calls far ahead of their answers is closed; the rest never reach the upstream; another tenant is served', async () => {
  const url = new URL(t.url);
  const headers = { ...modernHeaders('tools/call', 'rec__record'), authorization: `Bearer ${keys.acme}` };
  const one = (i: number) => {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: i,
      method: 'tools/call',
      params: { name: 'rec__record', arguments: { note: `flood-${i}` }, _meta: modernMeta() },
    });
    return `POST /mcp HTTP/1.1\r\nhost: ${url.host}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  const socket = connect(Number(url.port), url.hostname);
  let socketError: Error | undefined;
  socket.on('error', (err) => {
    if (err.message.startsWith('the gateway')) socketError = err;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Array.from({ length: 500 }, (_, i) => one(i)).join(''));
  socket.resume(); // read (and drop) what comes: a paused socket would not see the gateway close it
  const gaveUp = setTimeout(() => socket.destroy(new Error('the gateway kept the connection open')), 20_000);
  await closed;
  clearTimeout(gaveUp);
  assert.ok(!socketError, `${socketError}`);

  // Another tenant is served, and by then every handled call of the flood has reached the upstream.
  const g = await replyOf(await postModernCall(t.url, 'rec__record', { note: 'globex-after' }, { token: keys.globex }));
  assert.equal(g.error, undefined);
  assert.equal(reached('globex-after'), 1);
  const flood = reached('flood-');
  assert.ok(flood <= 33, `${flood} of the 500 pipelined calls reached the upstream`);

  const metrics = await (await fetch(new URL('/metrics', t.url))).text();
  assert.match(metrics, /^gatehouse_connections_refused_total\{reason="pipelined"\} 1$/m);
});
