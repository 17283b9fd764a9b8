/**
 * The era spoken to an upstream (`era:` per server): `legacy` never probes, `modern` never falls back,
 * and `auto` reaches a dual-era server over a 2025-11-25 session too, on demand (legacySession), but
 * not a modern-only one. Against real servers on loopback: the conformance fixture (SDK v2, both eras),
 * an SDK v1 server (2025-11-25 only) and an SDK v2 server serving 2026-07-28 only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../observability/logger.ts';
import type { UpstreamVerdict, VerdictStore } from '../storage/types.ts';
import { Upstream } from './upstream.ts';
import { legacyHttp, modernHttp, type TestServer } from '../../test/fixtures/upstreams/sdk-http-servers.ts';
import { startFixture, type Proc } from '../../test/conformance/run.ts';

const LIMIT = { timeout: 20_000 };
let legacy: TestServer;
let modern: TestServer;
let both: Proc;
const ups: Upstream[] = [];

before(async () => {
  [legacy, modern, both] = await Promise.all([legacyHttp(), modernHttp(), startFixture('both', 'classic')]);
});
after(async () => {
  await Promise.all(ups.map((u) => u.stop()));
  await Promise.all([legacy.close(), modern.close(), both.stop()]);
});

function verdicts(): VerdictStore & { saved: UpstreamVerdict[] } {
  const saved: UpstreamVerdict[] = [];
  return { saved, get: async () => undefined, put: async (v) => void saved.push(v) };
}

function upstream(url: string, era?: 'auto' | 'legacy' | 'modern', store = verdicts()): Upstream {
  const up = new Upstream(
    {
      name: 'u',
      transport: 'http',
      url,
      ...(era ? { era } : {}),
      timeouts: { connectMs: 5000, requestMs: 5000, maxTotalMs: 10_000 },
    } as never,
    store,
    silentLogger(),
  );
  ups.push(up);
  return up;
}

test('era: legacy talks 2025-11-25 to a server that speaks both eras, without probing', LIMIT, async () => {
  const up = upstream(both.url, 'legacy');
  await up.start();
  assert.equal(up.identity?.era, 'legacy');
  assert.equal(await up.legacySession(), undefined, 'no second session: this one is legacy already');
});

test('era: modern refuses a server that does not speak 2026-07-28, and says why', LIMIT, async () => {
  const up = upstream(legacy.url, 'modern');
  await assert.rejects(up.start(), /does not speak 2026-07-28 \(configured `era: modern`\)/);
  assert.equal(up.state, 'down');
  const auto = upstream(legacy.url);
  await auto.start();
  assert.equal(auto.identity?.era, 'legacy', 'the same server is legacy under auto');
});

test(
  'era: auto reaches a dual-era server over 2026-07-28, and over a 2025-11-25 session when asked; stopping one stops both',
  LIMIT,
  async () => {
    const store = verdicts();
    const up = upstream(both.url, 'auto', store);
    await up.start();
    assert.equal(up.identity?.era, 'modern');
    const session = await up.legacySession();
    assert.ok(session, 'a legacy session');
    assert.equal(session.identity?.era, 'legacy');
    assert.equal(await up.legacySession(), session, 'one legacy session per connection');
    assert.deepEqual(
      store.saved.map((v) => v.era),
      ['modern'],
      'the legacy session never overwrites the verdict',
    );
    const r = await session.request('tools/call', { name: 'test_simple_text', arguments: {} }, {});
    assert.match(JSON.stringify(r), /simple text response/);
    await up.stop();
    assert.equal(session.state, 'stopped');
  },
);

test(
  'era: auto, modern-only server: no legacy session (the caller is served over 2026-07-28); era: modern never opens one',
  LIMIT,
  async () => {
    const up = upstream(modern.url);
    await up.start();
    assert.equal(up.identity?.era, 'modern');
    assert.equal(await up.legacySession(), undefined);
    assert.equal(await up.legacySession(), undefined, 'and it does not try again at once');
    const pinned = upstream(both.url, 'modern');
    await pinned.start();
    assert.equal(pinned.identity?.era, 'modern');
    assert.equal(await pinned.legacySession(), undefined);
  },
);

test('the era is read from config: auto, legacy or modern; anything else is a load error', async () => {
  const { parseConfig } = await import('../config/load.ts');
  const yaml = (era: string) =>
    `version: 1\nservers:\n  - { name: u, transport: http, url: "http://127.0.0.1:1/mcp", era: ${era} }\n`;
  for (const era of ['auto', 'legacy', 'modern'])
    assert.equal((parseConfig(yaml(era), '/tmp/gatehouse.yaml').servers[0] as { era?: string }).era, era);
  assert.throws(() => parseConfig(yaml('both'), '/tmp/gatehouse.yaml'), /era/);
});
