/**
 * undici's Pool without the rest of undici, for HTTP upstreams. `require('undici')` loads all of it
 * (fetch, WebSocket, EventSource, mocks, caches, interceptors: 109 modules); an HTTP upstream needs the
 * Pool and the request API (30). In a bare process that is about 11 MB of RSS; in the bench's gateway,
 * after start-up's memory-reducing collection, about 3.5 MB of idle RSS. undici's own entry attaches
 * the API to `Dispatcher.prototype` (`Object.assign(Dispatcher.prototype, api)`); this loads the same
 * modules and does the same. Should a later undici move them, the public entry is used instead: the
 * gateway works the same with the larger footprint, and a test pins that the lean load works with the
 * locked undici (`undici-pool.test.ts`).
 */
import { createRequire } from 'node:module';
import type { Pool } from 'undici';

const require = createRequire(import.meta.url);

let loaded: typeof Pool | undefined;

function load(): typeof Pool {
  try {
    const PoolClass = require('undici/lib/dispatcher/pool.js') as typeof Pool;
    const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as new () => object;
    const api = require('undici/lib/api/index.js') as Record<string, unknown>;
    if (
      typeof PoolClass === 'function' &&
      typeof api.request === 'function' &&
      PoolClass.prototype instanceof Dispatcher
    ) {
      if (!('request' in Dispatcher.prototype)) Object.assign(Dispatcher.prototype, api);
      return PoolClass;
    }
  } catch {
    // another layout: the public entry below
  }
  return (require('undici') as typeof import('undici')).Pool;
}

/** undici's Pool class (with `request` and `dispatch`), loaded on the first call. */
export function undiciPool(): typeof Pool {
  loaded ??= load();
  return loaded;
}
