/**
 * `gatehouse stdio` when the client closes stdin (how MCP's stdio transport begins a shutdown): what
 * the client sent is still answered, a call in flight and one still waiting for a slot alike, and the
 * session ends after; a question to the client (sampling) is answered with an error at once, since
 * no answer can come, so the call that asked ends instead of waiting for one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { serveStdio } from '../src/listeners/stdio.ts';
import { EVERYTHING, ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

let t: TestGateway;

before(async () => {
  const rec = join(mkdtempSync(join(tmpdir(), 'gatehouse-stdio-eof-')), 'rec.jsonl');
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n` +
      stdioServer('everything', EVERYTHING, ['stdio']),
  );
});
after(async () => {
  await t?.close();
});

const msg = (id: number, method: string, params: object = {}) =>
  `${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`;

interface Message {
  id?: number | string;
  method?: string;
  result?: { content?: Array<{ text?: string }>; isError?: boolean };
  error?: { message: string };
}

/** A client on a pair of streams that writes `text`, closes stdin, and collects what comes back until the session ends. */
async function writeAndClose(text: string, maxInFlight?: number): Promise<{ messages: Message[]; ms: number }> {
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (d: Buffer) => (out += d.toString()));
  const t0 = performance.now();
  const served = serveStdio(input, output, '', () => t.gw.endpoint, { maxInFlight });
  input.end(text);
  const ended = await Promise.race([
    served.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
  ]);
  if (!ended) output.destroy(); // stdout gone: the session ends, whatever it waited for
  assert.ok(ended, `the session ended within 15 s of stdin closing; it had written: ${out}`);
  const messages = out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Message);
  return { messages, ms: performance.now() - t0 };
}

const INITIALIZED = `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`;
const INIT = (caps: object) =>
  `${msg(1, 'initialize', { protocolVersion: '2025-11-25', capabilities: caps, clientInfo: { name: 'script', version: '1' } })}${INITIALIZED}`;

test('stdin closed with a call in flight and another waiting for a slot: both are answered, then the session ends', async () => {
  const { messages } = await writeAndClose(
    INIT({}) +
      msg(2, 'tools/call', { name: 'rec__slow', arguments: { ms: 800 } }) +
      msg(3, 'tools/call', { name: 'rec__record', arguments: { n: 1 } }),
    1,
  );
  const byId = new Map(messages.filter((m) => m.id !== undefined).map((m) => [m.id, m]));
  assert.equal(byId.get(2)?.result?.content?.[0]?.text, 'slept 800', JSON.stringify(byId.get(2)));
  assert.ok(byId.get(3)?.result?.content && !byId.get(3)?.result?.isError, JSON.stringify(byId.get(3)));
});

test('after stdin closed, a question to the client is answered with an error at once: the call that asked ends, no wait', async () => {
  const { messages, ms } = await writeAndClose(
    INIT({ sampling: {} }) +
      msg(2, 'tools/call', { name: 'everything__trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } }),
  );
  const call = messages.find((m) => m.id === 2);
  assert.ok(call, `the call is answered: ${JSON.stringify(messages)}`);
  assert.equal(call.result?.isError, true, JSON.stringify(call));
  assert.match(JSON.stringify(call.result?.content), /the client closed its input/, 'the upstream was told why');
  assert.ok(ms < 10_000, `ended in ${Math.round(ms)} ms`);
});
