/**
 * What every bench result records about where it was measured: the commit and the machine. Results
 * compare only within one run; these say which run it was.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** The short hash of HEAD, or undefined outside a git checkout. */
export function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

/** Builds dist/ as the package ships it (`scripts/build.mjs`: bundled, no type check), what the benches start. */
export function buildDist(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** `2 cores (model), 24 GB, Node v24.x; commit abc1234` */
export function machineLine(): string {
  const gb = Math.round(totalmem() / 2 ** 30);
  return `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${gb} GB, Node ${process.version}; commit ${gitCommit() ?? 'unknown'}`;
}
