/**
 * `gatehouse stdio` as a desktop client runs it, for the life of the client's session: an edit to its
 * policy file applies to the bridge (a tool denied there is denied from then on), and SIGHUP (what a
 * closing terminal sends) stops it cleanly, its upstream servers with it, even one that ignores the
 * end of its input and every signal but SIGKILL (which `gw.stop()` sends after a grace period).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, stdioServer } from './support/gateway.ts';
import { childEnv } from './support/processes.ts';
import { eventually } from './support/eventually.ts';

const CLI = join(ROOT, 'src/cli/main.ts');
const HOSTILE = join(ROOT, 'test/fixtures/upstreams/hostile-server.ts');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-stdio-reload-'));
const beat = join(dir, 'beat');
const policy = join(dir, 'policy.yaml');
let bridge: ChildProcessWithoutNullStreams;
let upstreamPid: number;
let err = '';
const answers = new Map<number, Answer>();
let nextId = 1;

after(async () => {
  bridge?.kill('SIGKILL');
  // A server that outlived a failed test: killed by its own process id (it leads its own group).
  if (upstreamPid !== undefined && alive(upstreamPid)) {
    process.kill(-upstreamPid, 'SIGKILL');
    await eventually(() => !alive(upstreamPid));
  }
  rmSync(dir, { recursive: true, force: true });
});

const rule = (effect: 'allow' | 'deny') =>
  `rules:\n  - id: hostile-reads\n    tools: [hostile__read_file]\n    effect: ${effect}\n`;

/** Running and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

interface Answer {
  id?: number;
  result?: { content?: Array<{ text?: string }>; isError?: boolean };
  error?: { code: number; message: string };
}

async function ask(method: string, params: object): Promise<Answer> {
  const id = nextId++;
  bridge.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
  return eventually(() => answers.get(id), { timeoutMs: 20_000 });
}

const read = () => ask('tools/call', { name: 'hostile__read_file', arguments: { path: policy } });

before(async () => {
  writeFileSync(policy, rule('allow'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\npolicy: { files: [${JSON.stringify(policy)}] }\n` +
      `servers:\n${stdioServer('hostile', HOSTILE)}    env: { HEARTBEAT_FILE: ${JSON.stringify(beat)} }\n`,
  );
  bridge = spawn(process.execPath, [CLI, 'stdio', '--config', file], { env: childEnv() });
  bridge.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let buf = '';
  bridge.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const a = JSON.parse(buf.slice(0, i)) as Answer;
      if (a.id !== undefined) answers.set(a.id, a);
      buf = buf.slice(i + 1);
    }
  });
  await ask('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } });
  bridge.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  // The upstream: the bridge's one child, writing its heartbeat, ignoring SIGHUP, SIGTERM and its stdin's end.
  const kids = readFileSync(`/proc/${bridge.pid}/task/${bridge.pid}/children`, 'utf8').trim().split(/\s+/);
  assert.equal(kids.length, 1, kids.join(' '));
  upstreamPid = Number(kids[0]);
});

test('gatehouse stdio: an edit of its policy file applies to the running bridge', async () => {
  const allowed = await read();
  assert.match(allowed.result?.content?.[0]?.text ?? '', /^ok: /, JSON.stringify(allowed));
  writeFileSync(policy, rule('deny'));
  // Asked again until the edit applies: a bridge that never reloads keeps answering `ok`.
  const denied = await eventually(
    async () => {
      const a = await read();
      return a.error ? a : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  ).catch(() => undefined);
  assert.ok(denied, `the denied tool is refused after the edit; the bridge logged:\n${err}`);
  assert.match(denied.error?.message ?? '', /unknown tool `hostile__read_file`/); // denied tools are not listed either
});

test('gatehouse stdio: SIGHUP (a closing terminal) stops it cleanly, its upstream server with it', async () => {
  assert.ok(existsSync(beat) && Date.now() - statSync(beat).mtimeMs < 1000, 'the upstream runs');
  assert.ok(alive(upstreamPid));
  const exited = new Promise<[number | null, string | null]>((r) => bridge.once('exit', (c, s) => r([c, s])));
  bridge.kill('SIGHUP');
  const [code, signal] = await exited;
  assert.deepEqual([code, signal], [0, null], 'a clean stop, not death by the signal');
  await eventually(() => !alive(upstreamPid), { timeoutMs: 5000 }).catch(() => undefined);
  assert.ok(!alive(upstreamPid), 'the upstream server was stopped with the bridge');
});
