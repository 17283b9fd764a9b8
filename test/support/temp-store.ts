/** A store of its own for a test: the embedded one (SQLite) in a new directory, closed and removed after. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/storage/index.ts';
import type { Store } from '../../src/storage/types.ts';

export async function withTempStore<T>(fn: (store: Store, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-store-'));
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'state.db') });
  try {
    return await fn(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
