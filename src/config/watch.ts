/**
 * Reloading the configuration when its file changes, or on demand with `reload()` (for SIGHUP). A
 * reload that fails calls onError and hands over nothing: the caller keeps its last good config.
 * The directory is watched rather than the file, so editors that save by writing a new file and
 * renaming it over the old one are seen (as are Kubernetes ConfigMap updates, which swap a `..data`
 * symlink). Events are debounced, and a file whose text has not changed since the last attempt is
 * not parsed again (an explicit `reload()` always is).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseConfig, type ConfigError } from './load.ts';
import type { Config } from './schema.ts';
import { readConfigText } from './read-text.ts';

export interface WatchOptions {
  onChange(config: Config): void;
  onError(err: ConfigError | Error): void;
  /** Quiet time after the last file event before reloading. */
  debounceMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface ConfigWatcher {
  /** Read and apply the file now, even if its text is unchanged. */
  reload(): void;
  close(): void;
}

/** The config's text and its policy files' texts: a change to any of them is a change. */
function combined(configText: string, files: readonly string[]): string {
  return [configText, ...files.map((f) => readText(f) ?? '')].join('\u0000');
}

export function watchConfig(path: string, opts: WatchOptions & { policyFiles?: readonly string[] }): ConfigWatcher {
  const names = new Set([basename(path)]);
  let policyFiles = opts.policyFiles ?? [];
  let lastText = combined(readText(path) ?? '', policyFiles); // the files as the caller loaded them count as seen
  let attempt = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const load = async (force: boolean) => {
    const mine = ++attempt;
    let text: string;
    try {
      text = readConfigText(path);
    } catch (err) {
      if (!closed && mine === attempt) opts.onError(err as Error);
      return;
    }
    // A later attempt supersedes this one: results must not arrive out of order.
    const all = combined(text, policyFiles);
    if (closed || mine !== attempt || (!force && all === lastText)) return;
    lastText = all;
    let config: Config;
    try {
      config = parseConfig(text, path, opts.env ?? process.env);
    } catch (err) {
      opts.onError(err as Error);
      return;
    }
    policyFiles = config.policy?.files ?? [];
    for (const f of policyFiles) watchDir(dirname(f), basename(f));
    lastText = combined(text, policyFiles);
    opts.onChange(config);
  };
  const run = (force: boolean) => void load(force).catch((err: Error) => opts.onError(err));

  // One watcher per directory (the config's, and each policy file's), each for the names that matter there.
  const watchers = new Map<string, { watcher: FSWatcher; names: Set<string> }>();
  function watchDir(dir: string, file: string): void {
    const known = watchers.get(dir);
    if (known) return void known.names.add(file);
    try {
      const entry = {
        names: new Set([file]),
        watcher: watch(dir, { persistent: false }, (_event, changed) => {
          const name = changed?.toString();
          if (name !== undefined && !entry.names.has(name) && !name.startsWith('..')) return;
          clearTimeout(timer);
          timer = setTimeout(() => run(false), opts.debounceMs ?? 100);
        }),
      };
      entry.watcher.on('error', (err) => opts.onError(err));
      watchers.set(dir, entry);
    } catch (err) {
      opts.onError(err as Error); // no file watching here; reload() still works
    }
  }
  for (const n of names) watchDir(dirname(path), n);
  for (const f of policyFiles) watchDir(dirname(f), basename(f));
  return {
    reload: () => run(true),
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.watcher.close();
    },
  };
}

function readText(path: string): string | undefined {
  try {
    return readConfigText(path);
  } catch {
    return undefined;
  }
}
