/** Commands that read or write the store named by the config open it for their work and close it after. */
import { openStore } from '../storage/index.ts';
import type { Store } from '../storage/types.ts';
import type { Config } from '../config/schema.ts';

export async function withStore<T>(config: Config, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config.storage);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
