/**
 * The code cache of a CommonJS file run once: the code runs the same from source and from the cache;
 * the cache is written only once the code ran and only when none fitted; a damaged cache (which V8
 * itself would take) is refused by its checksum and replaced; a directory other users may write is
 * not used; without Node's compile cache nothing is read or written.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, enableCompileCache, getCompileCacheDir } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCachedCjs } from './code-cache.ts';

const requireHere = createRequire(import.meta.url);
const SOURCE = `
exports.greet = (name) => 'hello ' + name + ' from ' + require('node:path').basename('/x/lazy.js');
exports.sum = function (xs) { let t = 0; for (const x of xs) t += x; return t; };
`;
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-code-cache-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Api = { greet(n: string): string; sum(xs: number[]): number };
const run = (source = SOURCE) => runCachedCjs<Api>(source, join(tmp, 'lazy.cjs'), requireHere);
const files = () => readdirSync(join(getCompileCacheDir() ?? tmp, 'gatehouse'));

test('without a compile cache nothing is read or written, and the code runs', () => {
  assert.equal(getCompileCacheDir(), undefined);
  const r = run();
  assert.equal(r.cached, false);
  assert.equal(r.exports.greet('you'), 'hello you from lazy.js');
  r.keep();
});

test('written once the code ran, then used; a damaged cache, or one others may write, is not', () => {
  enableCompileCache(join(tmp, 'node-cache'));
  const first = run();
  assert.equal(first.cached, false);
  assert.equal(first.exports.sum([1, 2, 3]), 6);
  assert.deepEqual(files(), [], 'nothing is written before keep()');
  first.keep();
  const [name] = files();
  assert.ok(name, 'keep() wrote the cache');
  const path = join(getCompileCacheDir() ?? '', 'gatehouse', name);
  const written = readFileSync(path);

  const second = run();
  assert.equal(second.cached, true);
  assert.equal(second.exports.greet('again'), 'hello again from lazy.js');
  assert.equal(second.exports.sum([4, 5]), 9);
  second.keep();
  assert.deepEqual(readFileSync(path), written, 'a cache that fitted is not written again');

  const damaged = Buffer.from(written);
  damaged.fill(0x5a, 16, 64);
  writeFileSync(path, damaged);
  const third = run();
  assert.equal(third.cached, false, 'a damaged cache was used');
  assert.equal(third.exports.sum([7]), 7);
  third.keep();
  assert.equal(run().cached, true, 'the damaged cache was replaced');

  // Other source: another cache file, never the first one's code.
  const other = run(`exports.greet = () => 'other'; exports.sum = () => -1;`);
  assert.equal(other.cached, false);
  assert.equal(other.exports.greet('x'), 'other');
  other.keep();
  assert.equal(files().length, 2);

  // A directory others may write is not used: neither read nor written.
  const ours = join(getCompileCacheDir() ?? '', 'gatehouse');
  chmodSync(ours, 0o777);
  try {
    const shared = run();
    assert.equal(shared.cached, false, 'a cache was read from a directory others may write');
    shared.keep();
    assert.equal(files().length, 2);
  } finally {
    chmodSync(ours, 0o700);
  }
  assert.equal(run().cached, true);
});
