import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { lazyRequire } from './lazy.ts';

test('a lazily required package is loaded on first use only, once', () => {
  const cache = createRequire(import.meta.url).cache;
  const loaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/bintrees/'));
  const before = loaded();
  const bintrees = lazyRequire<{ RBTree: unknown }>('bintrees');
  assert.equal(loaded(), before, 'nothing is required before the first call');
  assert.equal(typeof bintrees().RBTree, 'function');
  assert.equal(bintrees(), bintrees());
  assert.equal(loaded(), true);
});
