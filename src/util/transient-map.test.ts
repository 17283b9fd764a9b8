import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { TransientMap } from './transient-map.ts';

test('TransientMap: set, get, has, delete, size, values, clear', () => {
  const m = new TransientMap<string | number, string>();
  m.set(1, 'one').set('1', 'string one').set('__proto__', 'proto').set(-2.5, 'neg');
  assert.equal(m.size, 4);
  assert.equal(m.get(1), 'one');
  assert.equal(m.get('1'), 'string one', '1 and "1" are two keys');
  assert.equal(m.get('__proto__'), 'proto');
  assert.equal(m.get(-2.5), 'neg');
  assert.equal(m.has('constructor'), false, 'nothing inherited');
  assert.equal(m.get('toString'), undefined);
  m.set(1, 'uno');
  assert.equal(m.size, 4, 'setting a key again does not count it twice');
  assert.deepEqual(m.values().sort(), ['neg', 'proto', 'string one', 'uno']);
  assert.equal(m.delete(1), true);
  assert.equal(m.delete(1), false);
  assert.equal(m.has(1), false);
  assert.equal(m.size, 3);
  for (const v of m.values()) if (v === 'proto') m.delete('__proto__'); // deleting while walking the copy
  assert.equal(m.size, 2);
  m.clear();
  assert.equal(m.size, 0);
  assert.deepEqual(m.values(), []);
});

/**
 * What it is for: entries that come and go under a long-lived owner are freed by the young
 * generation's collector. A child process churns 8,000 entries of about 1 KB (16 live at a time)
 * through a map whose first table is in the old generation, with a scavenge every 200 entries and
 * no full collection, and reports how much the old generation grew. A `Map` keeps them all (the
 * control: this test fails if the engine ever stops doing so, and then TransientMap is moot).
 */
test('TransientMap: churned entries die young where a Map keeps every one until a full collection', () => {
  const script = `
    import { TransientMap } from ${JSON.stringify(new URL('./transient-map.ts', import.meta.url).href)};
    import { getHeapSpaceStatistics } from 'node:v8';
    const m = process.argv[1] === 'map' ? new Map() : new TransientMap();
    m.set(0, {}); m.delete(0);
    gc(); gc();
    const old = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
    const before = old();
    const live = [];
    for (let i = 1; i <= 8000; i++) {
      m.set(i, { i, text: 'x'.repeat(1000) + i });
      live.push(i);
      if (live.length > 16) m.delete(live.shift());
      if (i % 200 === 0) gc({ type: 'minor' });
    }
    gc({ type: 'minor' }); gc({ type: 'minor' });
    console.log(old() - before);`;
  const grew = (kind: string) =>
    Number(
      execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, kind], {
        encoding: 'utf8',
      }).trim(),
    );
  const map = grew('map');
  const transient = grew('transient');
  assert.ok(map > 2_000_000, `a Map keeps the churned entries (old generation grew ${map} bytes)`);
  assert.ok(transient < 500_000, `TransientMap lets them go (old generation grew ${transient} bytes)`);
});
