#!/usr/bin/env node
// `npm start`: the quickstart, with all its set-up. Besides Node 24 and the dependencies (node24.js),
// the quickstart's servers run in a bubblewrap sandbox: where `bwrap` is missing, a root user on a
// Debian-like machine gets it installed (apt-get, as .ci/run does); anyone else is told how, and the
// gateway is not started half-configured.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv, ensureDeps, nodeBin, relaunch } from '../bin/node24.js';

const say = (m) => process.stderr.write(`gatehouse: ${m}\n`);
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

if (!has('bwrap')) {
  const apt = has('apt-get') && process.getuid?.() === 0;
  if (!apt) {
    say(
      'the quickstart runs its servers in a bubblewrap sandbox, and `bwrap` is not installed: install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`), then run `npm start` again',
    );
    process.exit(1);
  }
  say('installing bubblewrap (apt-get) for the sandboxed quickstart servers');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'bubblewrap'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    }).status === 0;
  if (
    !install() &&
    !(spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0 && install())
  ) {
    say('could not install bubblewrap: install it yourself (`apt-get install bubblewrap`), then run `npm start` again');
    process.exit(1);
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const node = nodeBin(root, say);
const env = childEnv(node);
ensureDeps(root, env, say);
relaunch(
  node,
  [
    join(root, 'src/cli/main.ts'),
    'start',
    '--config',
    join(root, 'examples/quickstart.yaml'),
    ...process.argv.slice(2),
  ],
  env,
);
