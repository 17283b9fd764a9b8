#!/usr/bin/env node
// The `gatehouse` executable. Inside node_modules (an installed package) it runs the built dist/;
// in a checkout it runs the TypeScript source directly (Node >= 24 strips types), after `npm ci` if
// the checkout has no dependencies yet. Started by an older Node (a desktop client's
// `"command": "node"`, the system's Node 20), it runs itself again under Node 24 with the same
// arguments and stdio (./node24.js).
import nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';
import { MIN, childEnv, ensureDeps, major, nodeBin, relaunch } from './node24.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const installed = import.meta.url.includes('/node_modules/');
if (major() < MIN) {
  const node = nodeBin(root);
  if (!installed) ensureDeps(root, childEnv(node));
  relaunch(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
} else {
  // Compiled code reused by the next start (see src/cli/main.ts). Not a named import: Node 20 lacks it.
  nodeModule.enableCompileCache?.();
  if (!installed) ensureDeps(root, childEnv(process.execPath));
  await import(installed ? '../dist/cli/main.js' : '../src/cli/main.ts');
}
