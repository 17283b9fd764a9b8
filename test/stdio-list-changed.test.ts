/**
 * `gatehouse stdio` tells a client of list changes only once it may hear them (walk Y F5): it sent
 * tools/list_changed, prompts/list_changed and resources/list_changed right after the answer to
 * initialize, before the client's notifications/initialized, describing no change (the gateway's
 * first catalogue load, which finishes while initialize waits for it). Now nothing before
 * notifications/initialized, nothing for a kind the client has not listed, and a real change after
 * the client listed is told, after the call that made it. The real CLI as a child process, a client
 * writing raw lines to it at once (as a desktop client does), the recording server and server-everything
 * (slow to start: test/fixtures/upstreams/slow-start.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVERYTHING, ROOT, stdioServer } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

interface Message {
  id?: number;
  method?: string;
  result?: { tools?: Array<{ name: string }> };
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-stdio-changes-'));
let child: ChildProcessWithoutNullStreams;
const got: Message[] = [];

before(() => {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\ninventory: { newTools: accept }\nservers:\n` +
      stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(join(dir, 'rec.jsonl'))} }\n` +
      // Slow to start: its first catalogue load finishes while the client's initialize waits for it.
      stdioServer('everything', join(ROOT, 'test/fixtures/upstreams/slow-start.ts'), [EVERYTHING, 'stdio']) +
      '    env: { START_DELAY_MS: "1500" }\n',
  );
  const env = { ...process.env, GATEHOUSE_LOG_LEVEL: 'silent' } as Record<string, string>;
  delete env.NODE_TEST_CONTEXT;
  child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'stdio', '--config', file], { env });
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      got.push(JSON.parse(buf.slice(0, i)) as Message);
      buf = buf.slice(i + 1);
    }
  });
});

after(async () => {
  child.stdin.end();
  if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
});

const send = (m: object) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...m })}\n`);
const answer = (id: number) => eventually(() => got.find((m) => m.id === id), { timeoutMs: 30_000, intervalMs: 20 });
const changes = () => got.filter((m) => m.method?.endsWith('/list_changed')).map((m) => m.method);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('no list_changed before notifications/initialized, none for the first catalogue load; a later change is told', async () => {
  // At once, while the gateway still starts its servers (the first catalogue loads meanwhile).
  send({
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'f5', version: '1' } },
  });
  await answer(1);
  await pause(500); // the first load's changes are gathered and told within ~25 ms
  assert.deepEqual(changes(), [], 'nothing before notifications/initialized');
  send({ method: 'notifications/initialized' });
  await pause(500);
  assert.deepEqual(changes(), [], 'the first load is no change to a client that listed nothing');
  send({ id: 2, method: 'tools/list' });
  assert.ok((await answer(2)).result?.tools?.some((t) => t.name === 'rec__add_tool'));
  send({ id: 3, method: 'tools/call', params: { name: 'rec__add_tool', arguments: { name: 'late' } } });
  const called = await answer(3);
  await eventually(() => changes().length > 0 || undefined, { timeoutMs: 10_000 });
  await pause(300);
  assert.deepEqual(
    changes(),
    ['notifications/tools/list_changed'],
    'tools only: prompts and resources were not listed',
  );
  const told = got.findIndex((m) => m.method === 'notifications/tools/list_changed');
  assert.ok(told > got.indexOf(called), 'told after the call that made it');
  send({ id: 4, method: 'tools/list' });
  assert.ok((await answer(4)).result?.tools?.some((t) => t.name === 'rec__late'));
});
