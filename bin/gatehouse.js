#!/usr/bin/env node
// The `gatehouse` executable. Inside node_modules (an installed package) it runs the built dist/;
// in a checkout it runs the TypeScript source directly (Node >= 24 strips types). Started by an older
// Node (a desktop client's `"command": "node"`, the system's Node 20), it runs itself again under
// Node 24 with the same arguments and stdio (./node24.js).
import { fileURLToPath } from 'node:url';
import { MIN, major, nodeBin, relaunch } from './node24.js';

if (major() < MIN) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const node = nodeBin(root);
  relaunch(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
} else {
  const installed = import.meta.url.includes('/node_modules/');
  await import(installed ? '../dist/cli/main.js' : '../src/cli/main.ts');
}
