// `npm test`: type-check, then every unit test (src/**/*.test.ts) and end-to-end test (test/**/*.test.ts).
// Extra arguments are passed to `node --test` (e.g. `npm test -- --test-name-pattern=session`).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

const extra = process.argv.slice(2);
if (!extra.length) {
  process.stderr.write('gatehouse: type-checking (tsc)\n');
  if (run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']) !== 0) process.exit(1);
}
const files = extra.some((a) => !a.startsWith('-')) ? [] : ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'];
process.exit(run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...extra, ...files]));
