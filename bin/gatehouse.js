#!/usr/bin/env node
// The `gatehouse` executable. Inside node_modules (an installed package) it runs the built dist/;
// in a checkout it runs the TypeScript source directly (Node >= 24 strips types).
const installed = import.meta.url.includes('/node_modules/');
await import(installed ? '../dist/cli/main.js' : '../src/cli/main.ts');
