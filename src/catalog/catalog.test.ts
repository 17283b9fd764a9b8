import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { pino } from 'pino';
import { silentLogger } from '../observability/logger.ts';
import { Catalog } from './catalog.ts';

/** An upstream whose listings take `ms` to answer, counting what it was asked; `tools` can change. */
function slowUpstream(ms: number) {
  const asked: string[] = [];
  const state = { tools: [{ name: 'one' }] as JsonObject[], fail: false };
  const up = {
    identity: {
      era: 'legacy',
      capabilities: { tools: {}, prompts: {} },
      serverInfo: {},
      protocolVersion: '2025-11-25',
    },
    async request(method: string): Promise<JsonObject> {
      asked.push(method);
      const tools = state.tools;
      await sleep(ms);
      if (state.fail) throw new Error('listing failed');
      return method === 'tools/list' ? { tools } : { prompts: [] };
    },
  } as unknown as Upstream;
  return { up, asked, state };
}

test('refreshes of one server run one at a time: everything asked meanwhile is one more refresh of every kind asked', async () => {
  const { up, asked, state } = slowUpstream(20);
  const catalog = new Catalog(new Map([['s', up]]), '__', silentLogger());
  const first = catalog.refresh('s', ['tools']);
  state.tools = [{ name: 'one' }, { name: 'two' }];
  const storm = Array.from({ length: 200 }, (_, i) => catalog.refresh('s', [i % 2 ? 'tools' : 'prompts']));
  await first;
  await Promise.all(storm);
  assert.equal(asked[0], 'tools/list');
  assert.deepEqual(asked.slice(1).sort(), ['prompts/list', 'tools/list']);
  assert.deepEqual(
    catalog.list('tools').map((t) => t.name),
    ['s__one', 's__two'],
  );
  // Quiet again, once the gap has passed: the next refresh starts at once (its listing is asked
  // before refresh returns).
  await sleep(450);
  const again = catalog.refresh('s', ['prompts']);
  assert.equal(asked.length, 4);
  await again;
});

test('the refresh that follows a running one starts no sooner than the gap after it began', async () => {
  const { up, asked } = slowUpstream(1);
  const catalog = new Catalog(new Map([['s', up]]), '__', silentLogger());
  const t0 = Date.now();
  const first = catalog.refresh('s', ['tools']);
  const second = catalog.refresh('s', ['tools']);
  await first;
  assert.equal(asked.length, 1);
  await second;
  assert.equal(asked.length, 2);
  assert.ok(Date.now() - t0 >= 190, `${Date.now() - t0} ms`);
});

test('a server that keeps announcing changes is listed ever less often: the gap doubles while it does', async () => {
  const { up, asked } = slowUpstream(1);
  const catalog = new Catalog(new Map([['s', up]]), '__', silentLogger());
  const t0 = Date.now();
  // An announcement every 50 ms for 1.6 s: at a fixed 200 ms gap that is 8 listings.
  const done: Promise<void>[] = [];
  while (Date.now() - t0 < 1600) {
    done.push(catalog.refresh('s', ['tools']));
    await sleep(50);
  }
  const during = asked.length;
  assert.ok(during <= 4, `${during} listings in 1.6 s (gaps of 200, 400, 800 ms)`);
  // An announcement spaced out so that each listing has finished before the next (a fast server)
  // gains nothing: what comes within the gap waits for its end.
  await Promise.all(done);
  // Quiet for the length of the gap: the next announcement is listed at once.
  await sleep(3300);
  const before = asked.length;
  const later = catalog.refresh('s', ['tools']);
  assert.equal(asked.length, before + 1);
  await later;
});

test('a failed refresh rejects its callers and those waiting for the next; a later refresh runs', async () => {
  const { up, state } = slowUpstream(5);
  const catalog = new Catalog(new Map([['s', up]]), '__', silentLogger());
  state.fail = true;
  const first = catalog.refresh('s', ['tools']);
  const waiting = catalog.refresh('s', ['tools']);
  await assert.rejects(first, /listing failed/);
  await assert.rejects(waiting, /listing failed/);
  state.fail = false;
  await catalog.refresh('s', ['tools']);
  assert.deepEqual(
    catalog.list('tools').map((t) => t.name),
    ['s__one'],
  );
});

test('what a replaced or removed connection listed is not published', async () => {
  const old = slowUpstream(20);
  const upstreams = new Map([['s', old.up]]);
  const catalog = new Catalog(upstreams, '__', silentLogger());
  const running = catalog.refresh('s', ['tools']);
  upstreams.delete('s');
  await running;
  assert.equal(catalog.has('s'), false);
});

test('a refused name is logged with every character but printable ASCII escaped: a bidi override cannot spoof the line', async () => {
  const { up, state } = slowUpstream(0);
  const spoof = 'safe\u202etxt.exe\u200b';
  state.tools = [{ name: 'ok' }, { name: spoof }, { name: 'ok\u0430' }];
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const catalog = new Catalog(new Map([['s', up]]), '__', log);
  await catalog.refresh('s', ['tools']);
  assert.deepEqual(
    catalog.list('tools').map((t) => t.name),
    ['s__ok'],
  );
  const refused = lines.filter((l) => l.includes('refused an upstream item'));
  assert.equal(refused.length, 2, lines.join(''));
  for (const l of refused) assert.match(l, /^[\x20-\x7e]*\n?$/, 'printable ASCII only');
  assert.ok(
    refused.some((l) => l.includes('safe\\\\u202etxt.exe\\\\u200b')),
    refused.join(''),
  );
});
