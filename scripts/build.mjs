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
import { copyFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 ? process.argv[at + 1] : join(root, 'dist/cli');
if (!outdir) throw new Error('--outdir needs a directory');

/**
 * Bundled: pure JavaScript, loaded at start. Everything else is resolved from node_modules at run time.
 * pino and its dependencies are bundled too (the gateway writes to stderr through sonic-boom and never
 * starts a pino transport, the one part that needs pino's own files): resolving their two dozen
 * CommonJS files at every start was enough path work for V8 to optimise Node's path normaliser with
 * TurboFan, whose code pages alone added about 6 MB to the idle gateway's RSS (ADR 0014).
 */
const BUNDLED = new Set([
  'kysely',
  'yaml',
  'commander',
  'canonicalize',
  'oauth4webapi',
  'diff',
  'pino',
  '@pinojs/redact',
  'atomic-sleep',
  'on-exit-leak-free',
  'pino-abstract-transport',
  'pino-std-serializers',
  'process-warning',
  'quick-format-unescaped',
  'real-require',
  'safe-stable-stringify',
  'sonic-boom',
  'thread-stream',
]);

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
  // Without comments and indentation: V8 keeps every loaded chunk's source in memory (about 2 MB
  // less at start). Names stay as written, and the linked source maps point back to src/.
  minifyWhitespace: true,
  // Bundled CommonJS (yaml, commander, pino) calls require() for Node's built-ins. The require is
  // made on first use: most chunks never call it, and making one resolves paths.
  banner: {
    js: "import { createRequire as __gatehouseCreateRequire } from 'node:module'; let __gatehouseRequire; const require = (id) => (__gatehouseRequire ??= __gatehouseCreateRequire(import.meta.url))(id);",
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
// The config's validators are compiled by the loader for each load, not imported (src/config/validate.ts):
// they sit beside the chunks, where the loader looks for them.
copyFileSync(join(root, 'src/config/validators.generated.cjs'), join(outdir, 'validators.generated.cjs'));
