#!/usr/bin/env node
// Builds dist/ (what the installed package runs; a checkout runs src/ directly): the CLI and the
// SQLite audit writer's worker bundled by esbuild, with the pure-JavaScript packages a start loads.
// A gateway then loads a few dozen files instead of about six hundred: most of a cold start was
// Node resolving and instantiating modules (ADR 0014). Lazily loaded code stays lazy (dynamic
// imports become chunks). Packages with native code, worker files, optional peers or their own
// lazy loading stay in node_modules. Every file is in one directory (dist/cli/), so paths resolved
// against `import.meta.url` (the worker) mean the same in every chunk. Type checking is `npm run
// typecheck`; this only transforms.
//
//   node scripts/build.mjs [--outdir DIR]     (default dist/cli)
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 ? process.argv[at + 1] : join(root, 'dist/cli');
if (!outdir) throw new Error('--outdir needs a directory');

/** Bundled: pure JavaScript, loaded at start. Everything else is resolved from node_modules at run time. */
const BUNDLED = new Set(['kysely', 'yaml', 'commander', 'canonicalize', 're2js', 'oauth4webapi', 'diff']);

const pkgName = (spec) => spec.split('/', spec.startsWith('@') ? 2 : 1).join('/');

rmSync(outdir, { recursive: true, force: true });
if (at < 0) rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: {
    main: join(root, 'src/cli/main.ts'),
    'sqlite-audit-worker': join(root, 'src/storage/sqlite-audit-worker.ts'),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  chunkNames: 'chunk-[hash]',
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // Bundled CommonJS (yaml, commander) calls require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __gatehouseCreateRequire } from 'node:module'; const require = __gatehouseCreateRequire(import.meta.url);",
  },
  plugins: [
    {
      name: 'externals',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) =>
          args.path.startsWith('node:') || !BUNDLED.has(pkgName(args.path))
            ? { path: args.path, external: true }
            : undefined,
        );
      },
    },
  ],
});
