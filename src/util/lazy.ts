/**
 * Packages the gateway needs only for some configurations (Redis, HTTP upstreams and exporters,
 * PostgreSQL) are loaded the first time they are used, so a gateway that never needs one never pays
 * its start time and memory. CommonJS packages load synchronously through require, so constructors
 * stay synchronous.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** `name`'s exports, required on the first call and remembered. */
export function lazyRequire<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= require(name) as T;
    return loaded;
  };
}
