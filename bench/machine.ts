/**
 * What every bench result records about where it was measured: the commit and the machine. Results
 * compare only within one run; these say which run it was.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { transformSync } from 'esbuild';

const ROOT = join(import.meta.dirname, '..');

/**
 * The short commit of the checkout at `dir` (this one by default), if it is one, marked when tracked
 * files differ from it (bench results aside): a build from a changed tree is not that commit's.
 */
export function gitCommit(dir = ROOT): string | undefined {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  try {
    const head = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench/results');
    return changed ? `${head} with uncommitted changes` : head;
  } catch {
    return undefined;
  }
}

/** Builds dist/ as the package ships it (`scripts/build.mjs`: bundled, no type check), what the benches start. */
export function buildDist(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * `file` (TypeScript with only node: and package imports) as JavaScript, for the processes a bench
 * measures beside the gateway (the relay, the echo upstream): run as .ts, Node's type stripping would
 * add about 17 MB and its start to each, where the gateway runs from dist/. Written under
 * node_modules/.cache, so package imports resolve as from the source; the path of the .mjs.
 */
export function asJavaScript(file: string): string {
  const out = join(ROOT, 'node_modules/.cache/gatehouse-bench', `${basename(file, '.ts')}.mjs`);
  mkdirSync(dirname(out), { recursive: true });
  const { code } = transformSync(readFileSync(file, 'utf8'), { loader: 'ts', format: 'esm', target: 'node24' });
  writeFileSync(out, code);
  return out;
}

/** `2 cores (model), 24 GB, Node v24.x; commit abc1234` */
export function machineLine(): string {
  const gb = Math.round(totalmem() / 2 ** 30);
  return `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${gb} GB, Node ${process.version}; commit ${gitCommit() ?? 'unknown'}`;
}
