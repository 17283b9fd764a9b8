// `npm test`: type-check, then every unit test (src/**/*.test.ts) and end-to-end test (test/**/*.test.ts).
// `npm run test:unit`: the same, but only the unit tests beside the code (src/**/*.test.ts), which
// need neither PostgreSQL nor Redis.
// Extra arguments are passed to `node --test` (e.g. `npm test -- --test-name-pattern=session`).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

const unit = process.argv[2] === '--unit';
const extra = process.argv.slice(unit ? 3 : 2);
if (!extra.length) {
  process.stderr.write('gatehouse: type-checking (tsc)\n');
  if (run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']) !== 0)
    process.exit(1);
}
const all = unit ? ['src/**/*.test.ts'] : ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'];
const files = extra.some((a) => !a.startsWith('-')) ? [] : all;
process.exit(run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...extra, ...files]));
