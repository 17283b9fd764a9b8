/**
 * The inventory part of the storage contract, against SQLite and PostgreSQL alike: records
 * round-trip exactly, the revision moves with every event, events and snapshots come back in order,
 * and `update` is a serialised read-modify-write: concurrent updates from two stores (two
 * connections, as two processes or replicas would have) never lose one another's writes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openStore } from './index.ts';
import type { InventoryServer, InventoryTool, Store } from './types.ts';
import { dropPgSchema, freshPgSchema, pgTestUrl, requireService } from '../../test/support/services.ts';

const T0 = 1_760_000_000_000;

const server = (over: Partial<InventoryServer> = {}): InventoryServer => ({
  server: 'files',
  firstSeen: T0,
  lastSeen: T0,
  serverInfo: { name: 'fs', version: '1' },
  protocolVersion: '2025-11-25',
  instructions: 'Use the tools 🦀 carefully',
  instructionsPin: 'sha256:i1',
  findings: [],
  acceptedPin: 'sha256:i1',
  acceptedInstructions: 'Use the tools 🦀 carefully',
  acceptedBy: 'gatehouse',
  acceptedAt: T0,
  ...over,
});

const tool = (name: string, over: Partial<InventoryTool> = {}): InventoryTool => ({
  server: 'files',
  tool: name,
  firstSeen: T0,
  lastSeen: T0,
  present: true,
  pin: 'sha256:p1',
  def: {
    name,
    description: 'reads "files"\n',
    inputSchema: { type: 'object', properties: { path: { type: 'string' } } },
  },
  findings: [{ kind: 'instructions', where: 'description', detail: 'x' }],
  proposedClass: 'READ',
  proposalReasons: ['name says read'],
  acceptedPin: null,
  acceptedDef: null,
  acceptedBy: null,
  acceptedAt: null,
  class: null,
  classifiedBy: null,
  classifiedAt: null,
  ...over,
});

type Opener = () => Promise<Store>;
/** How another process opens the same store: the fixture's argv. */
type Target = string[];

const BUMP = fileURLToPath(new URL('../../test/fixtures/inventory-bump.ts', import.meta.url));

function bumpIn(target: Target, tag: string, count: number): Promise<void> {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BUMP, ...target, tag, String(count)], { env }, (err, _out, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(),
    );
  });
}

function runInventoryContract(name: string, setup: (t: TestContext) => Promise<[Opener, Target] | undefined>): void {
  test(`${name}: the inventory store contract`, async (t) => {
    const ready = await setup(t);
    if (!ready) return;
    const [open, target] = ready;
    const [a, b] = [await open(), await open()];
    try {
      await t.test('an empty inventory: revision 0, nothing stored', async () => {
        assert.equal(await a.inventory.revision(), 0);
        assert.deepEqual(await a.inventory.servers(), []);
        assert.deepEqual(await a.inventory.update('files', (s) => ({ change: {}, result: s })), {
          server: undefined,
          tools: [],
          lastDigest: undefined,
        });
      });
      await t.test('records, events and snapshots round-trip exactly; the revision moves', async () => {
        const accepted = tool('read_file', {
          acceptedPin: 'sha256:p1',
          acceptedDef: { name: 'read_file', nested: [1, null, { ok: true }] },
          acceptedBy: 'alice',
          acceptedAt: T0 + 5,
          class: 'READ',
          classifiedBy: 'bob',
          classifiedAt: T0 + 6,
        });
        const got = await a.inventory.update('files', () => ({
          change: {
            server: server(),
            tools: [accepted, tool('gone', { present: false })],
            events: [
              {
                at: T0,
                server: 'files',
                tool: 'read_file',
                kind: 'tool.discovered',
                actor: 'gatehouse',
                detail: { pin: 'sha256:p1' },
              },
            ],
            snapshot: { observedAt: T0, digest: 'sha256:d1', content: { tools: ['read_file'] } },
          },
          result: 'done',
        }));
        assert.equal(got, 'done');
        assert.deepEqual(await b.inventory.servers(), [server()]);
        assert.deepEqual(await b.inventory.tools('files'), [tool('gone', { present: false }), accepted]);
        assert.deepEqual(await b.inventory.tools('other'), []);
        const rev = await b.inventory.revision();
        assert.ok(rev > 0);
        const [e] = await b.inventory.events({ server: 'files' });
        assert.deepEqual(
          { ...e, seq: 0 },
          {
            seq: 0,
            at: T0,
            server: 'files',
            tool: 'read_file',
            kind: 'tool.discovered',
            actor: 'gatehouse',
            detail: { pin: 'sha256:p1' },
          },
        );
        await a.inventory.update('files', (s) => ({
          change: {
            snapshot: { observedAt: T0 + 1, digest: 'sha256:d2', content: {} },
            events: [{ at: T0 + 1, server: 'files', tool: null, kind: 'server.changed', actor: 'x', detail: {} }],
          },
          result: assert.equal(s.lastDigest, 'sha256:d1'),
        }));
        assert.ok((await b.inventory.revision()) > rev);
        assert.deepEqual(
          (await b.inventory.snapshots('files')).map((x) => x.digest),
          ['sha256:d2', 'sha256:d1'],
          'newest first',
        );
        assert.deepEqual(
          (await b.inventory.events({ afterSeq: e.seq })).map((x) => x.kind),
          ['server.changed'],
        );
      });
      await t.test(
        'a discovery of 250 tools is written, then rewritten, in full; its events keep their order',
        async () => {
          const names = Array.from({ length: 250 }, (_, i) => `bulk_${String(i).padStart(3, '0')}`);
          const event = (name: string, kind: string) => ({
            at: T0 + 7,
            server: 'bulk',
            tool: name,
            kind,
            actor: 'gatehouse',
            detail: { name },
          });
          const first = names.map((n) => tool(n, { server: 'bulk' }));
          const before = await a.inventory.revision();
          await a.inventory.update('bulk', () => ({
            change: { tools: first, events: names.map((n) => event(n, 'tool.discovered')) },
            result: undefined,
          }));
          assert.deepEqual(await b.inventory.tools('bulk'), first);
          const again = names.map((n, i) =>
            tool(n, {
              server: 'bulk',
              firstSeen: T0 - i,
              lastSeen: T0 + i,
              present: i % 2 === 0,
              pin: `sha256:${i}`,
              def: { name: n, i },
              findings: [],
              proposedClass: 'WRITE',
              proposalReasons: [`reason ${i}`],
              acceptedPin: `sha256:${i}`,
              acceptedDef: { name: n, accepted: i },
              acceptedBy: 'alice',
              acceptedAt: T0 + i,
              class: 'DESTRUCTIVE',
              classifiedBy: 'bob',
              classifiedAt: T0 + 2 * i,
            }),
          );
          await a.inventory.update('bulk', () => ({
            change: { tools: again, events: names.map((n) => event(n, 'tool.changed')) },
            result: undefined,
          }));
          assert.deepEqual(await b.inventory.tools('bulk'), again, 'every column of every row rewritten');
          await a.inventory.update('bulk', () => ({
            change: { tools: [first[0], again[1], again[0]] },
            result: undefined,
          }));
          const [t0, t1] = await b.inventory.tools('bulk');
          assert.deepEqual([t0, t1], [again[0], again[1]], 'a tool written twice in one change keeps its last row');
          const events = await b.inventory.events({ server: 'bulk', afterSeq: before, limit: 1000 });
          assert.deepEqual(
            events.map((e) => `${e.kind} ${e.tool}`),
            [...names.map((n) => `tool.discovered ${n}`), ...names.map((n) => `tool.changed ${n}`)],
          );
        },
      );
      await t.test('a change may only write the server it is for', async () => {
        await assert.rejects(
          a.inventory.update('files', () => ({ change: { tools: [tool('x', { server: 'other' })] }, result: 0 })),
          /tried to write a tool of `other`/,
        );
        assert.deepEqual(await a.inventory.tools('other'), [], 'nothing of it was written');
      });
      await t.test('concurrent read-modify-writes from three processes lose nothing', async () => {
        await a.inventory.update('files', () => ({
          change: { tools: [tool('counter', { classifiedBy: '' })] },
          result: undefined,
        }));
        const N = 40;
        const others = [bumpIn(target, 'b', N), bumpIn(target, 'c', N)];
        // Start here once the other processes are writing, so that the three really overlap.
        for (let i = 0; i < 400; i++) {
          const c = (await a.inventory.tools('files')).find((x) => x.tool === 'counter')!;
          if (c.classifiedBy!.includes('b') && c.classifiedBy!.includes('c')) break;
          await new Promise((r) => setTimeout(r, 5));
        }
        const here = (async () => {
          for (let i = 0; i < N; i++) {
            await a.inventory.update('files', (s) => {
              const c = s.tools.find((x) => x.tool === 'counter')!;
              return { change: { tools: [{ ...c, classifiedBy: `${c.classifiedBy}a${i},` }] }, result: undefined };
            });
          }
        })();
        await Promise.all([here, ...others]);
        const counter = (await b.inventory.tools('files')).find((x) => x.tool === 'counter')!;
        const got = counter.classifiedBy!.split(',').filter(Boolean);
        assert.equal(got.length, 3 * N, 'every update kept');
        for (const tag of ['a', 'b', 'c'])
          assert.deepEqual(
            got.filter((x) => x[0] === tag),
            Array.from({ length: N }, (_, i) => `${tag}${i}`),
            `${tag} in order`,
          );
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
}

runInventoryContract('sqlite', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'gatehouse-inv-')), 'gatehouse.db');
  return [() => openStore({ driver: 'sqlite', sqlitePath: path }), ['sqlite', path, '-']];
});

runInventoryContract('postgres', async (t) => {
  if (!(await requireService(t, 'postgres'))) return undefined;
  const schema = freshPgSchema();
  t.after(() => dropPgSchema(pgTestUrl(), schema));
  return [
    () => openStore({ driver: 'postgres', sqlitePath: '', postgresUrl: pgTestUrl(), pgSchema: schema }),
    ['postgres', pgTestUrl(), schema],
  ];
});
