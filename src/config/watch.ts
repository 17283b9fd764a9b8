/**
 * Reloading the configuration when its file changes (or on SIGHUP through `reload()`). A reload that
 * fails to parse or validate reports the error and changes nothing: the caller keeps the last good
 * configuration. Watches the directory, so editors that replace the file by rename are seen too.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig } from './load.ts';
import type { Config } from './schema.ts';

export interface ConfigWatcher {
  reload(): void;
  close(): void;
}

export function watchConfig(path: string, on: { onChange(c: Config): void; onError(e: Error): void }, debounceMs = 100): ConfigWatcher {
  const file = resolve(path);
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const reload = () => {
    loadConfig(file).then(
      (c) => {
        const fingerprint = JSON.stringify(c);
        if (fingerprint === last) return;
        last = fingerprint;
        on.onChange(c);
      },
      (e: Error) => on.onError(e),
    );
  };
  // The config the gateway started with counts as seen: an unchanged save does not reload.
  loadConfig(file).then((c) => (last = last || JSON.stringify(c)), () => {});
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), (_event, name) => {
      if (name && name.toString() !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(reload, debounceMs);
    });
    watcher.on('error', () => {});
  } catch {
    watcher = undefined; // no file watching here: SIGHUP still reloads
  }
  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
