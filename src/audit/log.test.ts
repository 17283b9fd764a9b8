import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog, newStreamName, storeDown } from './log.ts';
import { GENESIS, chainHash, type AuditEvent } from '../model/audit-event.ts';
import type { AuditStore } from '../storage/types.ts';

/** An audit store in memory that refuses, as a database would, any batch holding a record marked `bad`. */
function fakeStore(opts: { down?: () => boolean } = {}) {
  const rows: AuditEvent[] = [];
  let calls = 0;
  const store = {
    async appendBatch(events: AuditEvent[]) {
      calls++;
      if (opts.down?.()) throw Object.assign(new Error('Connection terminated unexpectedly'), {});
      if (events.some((e) => e.detail?.bad))
        throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
      rows.push(...events);
    },
    async streamRecords(stream: string, fromSeq: number, limit: number) {
      if (opts.down?.()) throw new Error('Connection terminated unexpectedly');
      return rows
        .filter((e) => e.stream === stream && e.seq >= fromSeq)
        .slice(0, limit)
        .map((e, i) => ({ position: i + 1, stream: e.stream, seq: e.seq, body: JSON.stringify(e) }));
    },
  } as unknown as AuditStore;
  return { store, rows, calls: () => calls };
}

function chainOk(rows: AuditEvent[]): boolean {
  let prev = GENESIS;
  return rows.every((e, i) => {
    const ok = e.seq === i + 1 && e.prev === prev && chainHash(e) === e.hash;
    prev = e.hash;
    return ok;
  });
}

test('a record the store refuses fails alone; the others of its batch are written, chained without a gap', async () => {
  const f = fakeStore();
  const log = new AuditLog(f.store, 's1');
  const results = await Promise.allSettled([
    log.append({ kind: 'admin.action', detail: { n: 1 } }),
    log.append({ kind: 'admin.action', detail: { n: 2, bad: true } }),
    log.append({ kind: 'admin.action', detail: { n: 3 } }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.match(String((results[1] as PromiseRejectedResult).reason), /audit store refused the write/);
  assert.deepEqual(
    f.rows.map((e) => e.detail?.n),
    [1, 3],
  );
  assert.ok(chainOk(f.rows));
  assert.equal(log.failures, 0, 'a refused record is not the store failing: calls after it are not failed closed');
  await log.append({ kind: 'admin.action' });
  assert.ok(chainOk(f.rows));
});

test('when the store is down the whole batch is refused at once (no record-by-record retries)', async () => {
  let down = true;
  const f = fakeStore({ down: () => down });
  const log = new AuditLog(f.store, 's2');
  const results = await Promise.allSettled(
    [1, 2, 3, 4].map((n) => log.append({ kind: 'admin.action', detail: { n } })),
  );
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.equal(f.calls(), 1);
  down = false;
  await log.append({ kind: 'admin.action', detail: { n: 5 } });
  assert.ok(chainOk(f.rows), 'the chain resumes at seq 1: nothing refused was chained on');
});

test('a lone surrogate cannot be hashed (RFC 8785): replaced, flagged, and the batch goes on', async () => {
  const f = fakeStore();
  const log = new AuditLog(f.store, 's3');
  const [a, b] = await Promise.all([
    log.append({ kind: 'call.refused', tool: 'x__\ud800' }),
    log.append({ kind: 'call.refused', tool: 'x__ok', detail: { k: 'a\u0000b' } }),
  ]);
  assert.equal(a.tool, 'x__\ufffd');
  assert.equal(a.detail?.replacedUnpairedSurrogates, true);
  assert.equal(b.detail?.k, 'a\u0000b', 'NUL is kept exactly (JSON escapes it)');
  assert.equal(b.detail?.replacedUnpairedSurrogates, undefined);
  assert.ok(chainOk(f.rows));
});

test('storeDown reads SQLSTATE classes, else the message', () => {
  assert.equal(storeDown({ code: '57P01', message: 'terminating connection' }), true);
  assert.equal(storeDown({ code: '08006', message: 'x' }), true);
  assert.equal(storeDown({ code: '22021', message: 'invalid byte sequence' }), false);
  assert.equal(storeDown({ code: '23505', message: 'duplicate key' }), false);
  assert.equal(storeDown(new Error('Connection terminated unexpectedly')), true);
  assert.equal(storeDown(new Error('connect ECONNREFUSED 127.0.0.1:5432')), true);
  assert.equal(storeDown(new Error('UNIQUE constraint failed: audit_events.stream')), false);
});

test('every batch carries the configured durability to the store; the strongest unless told otherwise', async () => {
  const seen: Array<string | undefined> = [];
  const store = {
    async appendBatch(_events: AuditEvent[], durability?: string) {
      seen.push(durability);
    },
  } as unknown as AuditStore;
  const log = new AuditLog(store, 's');
  await log.append({ kind: 'config.reloaded' });
  log.durability = 'process-crash';
  await log.append({ kind: 'config.reloaded' });
  assert.deepEqual(seen, ['power-loss', 'process-crash']);
});

test('stream names: host, kind, and 64 random bits, different every time', () => {
  const names = new Set(Array.from({ length: 1000 }, () => newStreamName('cli')));
  assert.equal(names.size, 1000);
  for (const n of names) assert.match(n, /^[A-Za-z0-9._-]{1,40}\/cli\/[0-9a-f]{16}$/);
});
