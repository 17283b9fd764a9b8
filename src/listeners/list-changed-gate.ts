/**
 * When a stdio session hears of list changes. Its stream is in place from `initialize` (the session
 * starts at once: a script may send its calls before the answer), so without this it heard the
 * gateway's first catalogue load, which finishes while `initialize` waits for it, as three
 * list_changed notifications before the client had even sent notifications/initialized, describing
 * no change (walk Y F5). A server says nothing but pings and log messages before the client's
 * notifications/initialized (spec 2025-11-25, basic/lifecycle), and a list the client has not
 * fetched cannot be out of date: so a `list_changed` of a kind is held back until the client has sent
 * notifications/initialized and has listed that kind (tools/list; prompts/list; resources/list or
 * resources/templates/list). Everything else goes as it comes.
 */
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import type { MessageSink } from '../sessions/sessions.ts';

/** Each list_changed notification, by the list request whose answer it makes stale. */
const STALES: Readonly<Record<string, string>> = {
  'tools/list': 'notifications/tools/list_changed',
  'prompts/list': 'notifications/prompts/list_changed',
  'resources/list': 'notifications/resources/list_changed',
  'resources/templates/list': 'notifications/resources/list_changed',
};
const CHANGES = new Set(Object.values(STALES));

export class ListChangedGate {
  #initialized = false;
  readonly #listed = new Set<string>();

  /** The client sent notifications/initialized. */
  initialized(): void {
    this.#initialized = true;
  }

  /** The client asks `method` (a list request makes the changes of its kind heard from now on). */
  asked(method: string): void {
    if (Object.hasOwn(STALES, method)) this.#listed.add(STALES[method]);
  }

  /** Whether `m` goes to the client now. */
  admits(m: JsonRpcMessage): boolean {
    if (!('method' in m) || 'id' in m || !CHANGES.has(m.method)) return true;
    return this.#initialized && this.#listed.has(m.method);
  }

  /** `out`, less what the gate holds back. */
  sink(out: MessageSink): MessageSink {
    return {
      send: (m) => {
        if (this.admits(m)) out.send(m);
      },
      get closed() {
        return out.closed;
      },
      close: () => out.close(),
    };
  }
}
