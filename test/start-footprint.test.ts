/**
 * A start wakes no optimising compiler. V8's TurboFan is part of the Node binary: the first function
 * it optimises pages about 5 MB of the compiler's code in, which then stays in the gateway's RSS for
 * the life of the process (ADR 0014). Three times a start made a function hot enough for it: a helper
 * called for every key of every definition, the lone-surrogate walk called four times per tool of a
 * catalogue of 200 (idle RSS 74 MB against 80 with both bench upstreams), and Node's own path
 * functions once a static import of TypeBox (about 750 modules resolved at every start) came in with
 * the kept outcomes' record check (CI caught that one). This starts the bundle operators run
 * (`dist/`, built here) with V8's optimisation trace, an MCP server of 200 tools behind it, and reads
 * the trace up to a second after `/readyz`: Maglev, V8's quick tier, may compile; TurboFan may not.
 * Not a timing assertion: what V8 compiles depends on how often code runs, not on how fast.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
  const turbofan = compiled.filter((l) => l.includes('TURBOFAN'));
  assert.deepEqual(turbofan, [], 'no function optimised by TurboFan during the start');
});
