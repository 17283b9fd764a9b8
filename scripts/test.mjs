// `npm test`: type-check, then every unit test (src/**/*.test.ts) and end-to-end test (test/**/*.test.ts).
// `npm run test:unit`: the same, but only the unit tests beside the code (src/**/*.test.ts), which
// need neither PostgreSQL nor Redis.
// Extra arguments are passed to `node --test` (e.g. `npm test -- --test-name-pattern=session`).
// SIGINT and SIGTERM are passed on to the step running, so a stopped `npm test` leaves nothing behind.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs `cmd` to its end, passing on SIGINT and SIGTERM; its exit status (1 when a signal ended it). */
function run(cmd, args) {
  const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
  const forward = (sig) => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, forward);
  return new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('exit', (code) => {
      for (const sig of ['SIGINT', 'SIGTERM']) process.off(sig, forward);
      resolve(code ?? 1);
    });
  });
}

const unit = process.argv[2] === '--unit';
const extra = process.argv.slice(unit ? 3 : 2);
if (!extra.length) {
  process.stderr.write('gatehouse: type-checking (tsc)\n');
  if ((await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'])) !== 0)
    process.exit(1);
}
const all = unit ? ['src/**/*.test.ts'] : ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'];
const files = extra.some((a) => !a.startsWith('-')) ? [] : all;
process.exit(
  await run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...extra, ...files]),
);
