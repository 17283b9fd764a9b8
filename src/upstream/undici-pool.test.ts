import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

// A fresh process: what loading the Pool pulls in, and that it serves a request, with the locked undici.
const PROBE = `
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { undiciPool } from ${JSON.stringify(join(import.meta.dirname, 'undici-pool.ts'))};
const server = createServer((req, res) => res.end(req.method + ' ' + req.url));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const Pool = undiciPool();
const pool = new Pool('http://127.0.0.1:' + server.address().port);
const res = await pool.request({ path: '/x', method: 'GET' });
const text = await res.body.text();
await pool.close();
server.close();
const cache = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify({
  text,
  dispatch: typeof pool.dispatch,
  entryLoaded: cache.some((k) => k.endsWith('/undici/index.js')),
  modules: cache.filter((k) => k.includes('/undici/')).length,
}));
`;

test('the Pool loads without the rest of undici, with the locked undici, and serves a request', () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE], { encoding: 'utf8' });
  const r = JSON.parse(out) as { text: string; dispatch: string; entryLoaded: boolean; modules: number };
  assert.equal(r.text, 'GET /x');
  assert.equal(r.dispatch, 'function');
  // Fails when undici moved its Pool or request API (undici-pool.ts then falls back to the whole package).
  assert.equal(r.entryLoaded, false, "undici's entry (all of undici) was not loaded");
  assert.ok(r.modules < 60, `${r.modules} undici modules`);
});
