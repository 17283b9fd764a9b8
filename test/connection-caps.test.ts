/**
 * The HTTP listener's connection caps (`gateway.maxConnections`, `maxConnectionsPerAddress`), with
 * small caps and loopback addresses (127.0.0.x are all the machine itself on Linux): idle connections
 * over a cap are answered 503 and closed as they arrive, counted and logged once, while a connection
 * within the caps is served; a trusted proxy's address is held to the total only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { capturedLog } from './support/logs.ts';

let t: TestGateway;
let port: number;
const { log, lines: logs } = capturedLog('warn');
let open: Socket[] = [];

before(async () => {
  t = await startGateway('', {
    gateway: '  maxConnections: 8\n  maxConnectionsPerAddress: 3\n  trustedProxies: [127.0.0.9]\n',
    log,
  });
  port = Number(new URL(t.url).port);
});
after(async () => {
  for (const s of open) s.destroy();
  await t?.close();
});

/** Every idle connection a test opened, closed (also when it failed); then the gateway holds none of them. */
function closeAll(): Promise<unknown> {
  for (const s of open) s.destroy();
  open = [];
  return eventually(async () => (await get('127.0.0.3', '/healthz').catch(() => ({ status: 0 }))).status === 200);
}

/** A counter's value in the gateway's metrics. */
async function refusals(reason: string): Promise<number> {
  const body = (await get('127.0.0.3', '/metrics')).body;
  return Number(
    new RegExp(`^gatehouse_connections_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(body)?.[1] ?? 0,
  );
}

/** An idle connection from `from`, once the gateway has taken it (it answers nothing until asked). */
async function idle(from: string): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, localAddress: from });
  open.push(s);
  await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject));
  return s;
}

/** What a connection from `from` is sent before it closes, asking nothing. */
async function refusedFrom(from: string): Promise<string> {
  const s = connect({ host: '127.0.0.1', port, localAddress: from });
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  await new Promise((resolve) => s.once('close', resolve).once('error', resolve));
  return got;
}

/** GET `path` over a fresh connection from `from`. */
function get(from: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('over the cap per address: refused at once with a 503 that says why, while another address is served', async (c) => {
  c.after(closeAll);
  const mine = [await idle('127.0.0.2'), await idle('127.0.0.2'), await idle('127.0.0.2')];
  const answer = await refusedFrom('127.0.0.2');
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /too many connections from this address/);
  assert.equal((await get('127.0.0.3', '/healthz')).status, 200, 'another address is served');
  assert.equal(await refusals('address'), 1);
  // One of the three closes: the address is within its cap again.
  mine[0].destroy();
  await eventually(async () => (await get('127.0.0.2', '/healthz').catch(() => ({ status: 0 }))).status === 200);
});

test('over the total: refused whatever the address; logged once for a burst; served again once one closes', async (c) => {
  c.after(closeAll);
  const held: Socket[] = [];
  for (const from of ['127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'])
    for (let i = 0; i < 2; i++) held.push(await idle(from));
  const before = logs.length;
  for (let i = 0; i < 5; i++) {
    const answer = await refusedFrom('127.0.0.8');
    assert.match(answer, /^HTTP\/1\.1 503 /);
    assert.match(answer, /the gateway holds as many connections as it may/);
  }
  const lines = logs.slice(before).filter((l) => l.reason === 'total');
  assert.equal(lines.length, 1, JSON.stringify(logs.slice(before)));
  assert.match(lines[0].msg ?? '', /gateway\.maxConnections reached/);
  held[0].destroy();
  await eventually(async () => (await get('127.0.0.8', '/healthz').catch(() => ({ status: 0 }))).status === 200);
  assert.ok((await refusals('total')) >= 5);
});

test("a trusted proxy's address is held to the total only, not to the cap per address", async (c) => {
  c.after(closeAll);
  for (let i = 0; i < 5; i++) await idle('127.0.0.9');
  assert.equal((await get('127.0.0.9', '/healthz')).status, 200, 'the sixth from the proxy is served');
});
