import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchConfig } from './watch.ts';
import type { Config } from './schema.ts';

const good = (port: number) => `version: 1\ngateway:\n  listen: { port: ${port} }\nservers: []\n`;

function next<T>(arr: T[], n: number, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const until = Date.now() + ms;
    const tick = () => (arr.length >= n ? resolve() : Date.now() > until ? reject(new Error(`waited for ${n} events, got ${arr.length}`)) : setTimeout(tick, 20));
    tick();
  });
}

test('a changed file reloads; a broken one reports its line and changes nothing; a fix reloads again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-watch-'));
  const file = join(dir, 'g.yaml');
  writeFileSync(file, good(1111));
  const changes: Config[] = [];
  const errors: Error[] = [];
  const w = watchConfig(file, { onChange: (c) => changes.push(c), onError: (e) => errors.push(e) }, 20);
  try {
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(file, good(2222));
    await next(changes, 1);
    assert.equal(changes[0].gateway.listen.port, 2222);
    writeFileSync(file, 'version: 1\nservers:\n  - name: x\n    transport: nope\n');
    await next(errors, 1);
    assert.match(errors[0].message, /g\.yaml:4:16: servers\[0\]\.transport/);
    assert.equal(changes.length, 1, 'nothing applied from the broken file');
    // Editors often write a new file and rename it over the old one.
    writeFileSync(join(dir, 'g.yaml.tmp'), good(3333));
    renameSync(join(dir, 'g.yaml.tmp'), file);
    await next(changes, 2);
    assert.equal(changes[1].gateway.listen.port, 3333);
  } finally {
    w.close();
  }
});
