/**
 * A start wakes no optimising compiler. V8's TurboFan is part of the Node binary: the first function
 * it optimises pages about 5 MB of the compiler's code in, which then stays in the gateway's RSS for
 * the life of the process (ADR 0014). Twice a start with a catalogue of 200 tools made a function
 * hot enough for it: a helper called for every key of every definition, then the lone-surrogate walk
 * called four times per tool (issue 17's idle-RSS target: 74 MB against 80 with both bench
 * upstreams). This starts the bundle operators run (`dist/`, built here) with V8's optimisation trace,
 * an MCP server of 200 tools behind it, and reads the trace up to a second after `/readyz`: Maglev,
 * V8's quick tier, may compile; TurboFan may not compile a function of the gateway's own bundle. Node's
 * own (the path functions of module resolution) are left out: on a loaded machine V8's background
 * compiler falls behind and they went on to TurboFan in CI (normalizeString, getPathFromURLPosix),
 * which this code cannot decide. Not a timing assertion: what V8 compiles of ours depends on how often
 * it runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './support/gateway.ts';
import { childEnv, freePort, stopper } from './support/processes.ts';
import { eventually } from './support/eventually.ts';

const ECHO = join(ROOT, 'bench/echo-server.ts');

test('a start with a catalogue of 200 tools optimises nothing with TurboFan', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-footprint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--outdir', join(dir, 'dist/cli')], {
    encoding: 'utf8',
  });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  const port = await freePort();
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(
    config,
    [
      'version: 1',
      'gateway:',
      `  listen: { host: 127.0.0.1, port: ${port} }`,
      `  stateDir: ${JSON.stringify(join(dir, 'state'))}`,
      'servers:',
      `  - { name: echo, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(ECHO)}, "--stdio", "--tools", "200"] }`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--trace-opt', join(dir, 'dist/cli/main.js'), 'start', '--config', config], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.after(stopper(child));
  let trace = '';
  child.stdout!.on('data', (d: Buffer) => {
    trace += d.toString();
  });
  await eventually(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  // The catalogue is in once /readyz answers 200; the memory-reducing collection runs half a second later.
  await sleep(1000);
  const compiled = trace.split('\n').filter((l) => l.startsWith('[completed compiling'));
  assert.ok(
    compiled.some((l) => l.includes('MAGLEV')),
    'the trace is read (Maglev compiles something at every start)',
  );
  const bundle = readdirSync(join(dir, 'dist/cli'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(dir, 'dist/cli', f), 'utf8'))
    .join('\n');
  const ours = compiled
    .filter((l) => l.includes('TURBOFAN'))
    .filter((l) => definedIn(bundle, /<JSFunction (\S+) /.exec(l)?.[1] ?? ''));
  assert.deepEqual(ours, [], "no function of the gateway's bundle optimised by TurboFan during the start");
});

/** Whether `bundle` defines a function or method named `name` (a declaration, a method, an arrow assigned to it). */
function definedIn(bundle: string, name: string): boolean {
  if (!/^[\w$#]+$/.test(name)) return false; // anonymous or a name no definition here could have
  const n = name.replace(/\$/g, '\\$');
  return new RegExp(`function\\s+${n}\\(|[{;,}\\s]${n}\\([^()]*\\)\\{|\\b${n}=(?:async)?\\(?[\\w$,]*\\)?=>`).test(
    bundle,
  );
}
