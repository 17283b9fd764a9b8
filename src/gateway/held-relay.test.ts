import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { RelayMessage } from '../sessions/replica-relay.ts';
import { HeldRelay } from './held-relay.ts';
import { Holds } from './holds.ts';

const A = 'a'.repeat(16);
const B = 'b'.repeat(16);

/** Replicas A and B with a shared key, relaying to each other in memory; `live` switches B's relay. */
function pair(maxBytes: number, waitMs = 60_000) {
  const key = Buffer.alloc(32, 3);
  const holds = { [A]: new Holds(60_000, undefined, A), [B]: new Holds(60_000, undefined, B) };
  const relays: Record<string, HeldRelay> = {};
  const b = { live: true };
  for (const id of [A, B]) {
    holds[id].useKey(key);
    const relay = {
      id,
      get live() {
        return id === A || b.live;
      },
      send: async (to: string, m: RelayMessage) => {
        const r = relays[to];
        setImmediate(() => {
          if (m.kind === 'retry') void r.serve(m);
          else if (m.kind === 'retried') r.retried(m);
          else if (m.kind === 'cancel') r.cancel(m);
        });
        return true;
      },
    };
    relays[id] = new HeldRelay(relay, holds[id], () => maxBytes, waitMs);
  }
  return {
    holds,
    relays,
    b,
    close: () => {
      for (const h of Object.values(holds)) h.close();
    },
  };
}

/** A call held on A whose upstream asks once, then returns `after(answer)`; its sealed state. */
function heldOnA(holds: Holds, after: (a: unknown) => Promise<JsonObject>): Promise<string> {
  const held = holds.create('bound', { principal: 'p', tenant: 't' });
  held.scrubs = { questions: (_m, p) => p, result: (v) => v };
  held.start(async (ask) => after(await ask({ jsonrpc: '2.0', id: 1, method: 'elicitation/create', params: {} })));
  return held.next(new AbortController().signal).then(() => holds.seal(held));
}

const retry = (state: string) => ({
  state,
  binding: 'bound',
  principal: 'p',
  tenant: 't',
  inputResponses: { q1: { action: 'accept' } },
  capabilities: { elicitation: {} },
});

test('a retry sent to the holding replica comes back with the call result; one too large for gateway.maxBodyBytes is an error', async () => {
  const p = pair(500);
  try {
    const small = await heldOnA(p.holds[A], async (a) => ({ content: [{ type: 'text', text: JSON.stringify(a) }] }));
    const r = await p.relays[B].send(A, retry(small), new AbortController().signal);
    assert.deepEqual(r, { content: [{ type: 'text', text: '{"result":{"action":"accept"}}' }] });
    const big = await heldOnA(p.holds[A], async () => ({ content: [{ type: 'text', text: 'x'.repeat(600) }] }));
    await assert.rejects(p.relays[B].send(A, retry(big), new AbortController().signal), {
      code: 'E_UPSTREAM_TOO_LARGE',
      message: /gateway\.maxBodyBytes/,
    });
  } finally {
    p.close();
  }
});

test('a call that does not reach its next step in time: a clear timeout, and the call is still held', async () => {
  const p = pair(100_000, 200);
  try {
    const state = await heldOnA(p.holds[A], () => new Promise(() => {}));
    await assert.rejects(p.relays[B].send(A, retry(state), new AbortController().signal), {
      code: 'E_UPSTREAM_TIMEOUT',
      message: /still held: retry with the same requestState/,
    });
    assert.ok(p.holds[A].locate(state, 'bound'), 'still held');
  } finally {
    p.close();
  }
});

test('with the relay down a retry for another replica is an invalid state, as before; nothing is sent', async () => {
  const p = pair(100_000);
  try {
    const state = await heldOnA(p.holds[A], async () => ({ ok: true }));
    p.b.live = false;
    await assert.rejects(p.relays[B].send(A, retry(state), new AbortController().signal), { code: 'E_INPUT_STATE' });
  } finally {
    p.close();
  }
});
