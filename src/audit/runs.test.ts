/**
 * runRecords: a run a page at a time, a tenant admin's own records only, `next` to go on, other work
 * between pages. searchAll: a search through every round the store's search takes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog, newStreamName } from './log.ts';
import { runRecords, searchAll } from './runs.ts';
import { withLoopTurns } from '../../test/support/loop-delay.ts';
import { withTempStore } from '../../test/support/temp-store.ts';

test('a long run: pages of it in order, a tenant sees only its own records, other work runs between pages', async () => {
  await withTempStore(async (store) => {
    const log = new AuditLog(store.audit, newStreamName('gw'));
    log.durability = 'process-crash';
    const actor = (tenant: string) => ({ subject: 'agent', tenant, via: 'api-key', issuer: 'gatehouse' });
    // One run id in two tenants (a run id is the caller's to choose), and another run in between.
    await Promise.all(
      Array.from({ length: 3000 }, (_, i) =>
        log.append({
          kind: 'config.reloaded',
          runId: i % 3 === 2 ? 'other' : 'r-1',
          actor: actor(i % 3 === 0 ? 'acme' : 'globex'),
          detail: { i },
        }),
      ),
    );
    await log.close();
    const follow = async (opts: Parameters<typeof runRecords>[2]) => {
      const seen: number[] = [];
      let pages = 0;
      for (let after: number | undefined; pages === 0 || after !== undefined; pages++) {
        const r = await runRecords(store.audit, 'r-1', { ...opts, after });
        seen.push(...r.rows.map((x) => x.event.detail?.i as number));
        after = r.next;
      }
      return { seen, pages };
    };
    const every = Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 3 !== 2);
    const all = await follow({ limit: 700 });
    assert.deepEqual(all.seen, every);
    assert.equal(all.pages, 3);
    const acme = await follow({ tenant: 'acme', limit: 700 });
    assert.deepEqual(
      acme.seen,
      every.filter((i) => i % 3 === 0),
    );
    assert.deepEqual(await runRecords(store.audit, 'r-1', { tenant: 'initech' }), { rows: [] });

    // Out of time after the first page: where to go on.
    const stopped = await runRecords(store.audit, 'r-1', { budgetMs: 0 });
    assert.equal(stopped.rows.length, 1000);
    assert.equal(stopped.next, stopped.rows[999].position);
    // ...but a tenant that has read nothing of its own gets no `next`: it would tell that another
    // tenant's long run has this id (the views answer 404 as for an unknown run).
    assert.deepEqual(await runRecords(store.audit, 'r-1', { tenant: 'initech', budgetMs: 0 }), { rows: [] });
    const acmeStopped = await runRecords(store.audit, 'r-1', { tenant: 'acme', budgetMs: 0 });
    assert.ok(acmeStopped.rows.length > 0 && acmeStopped.next !== undefined);

    const { value: whole, turns } = await withLoopTurns(() =>
      runRecords(store.audit, 'r-1', { limit: Number.POSITIVE_INFINITY, budgetMs: Number.POSITIVE_INFINITY }),
    );
    assert.equal(whole.rows.length, 2000);
    assert.ok(turns >= 2, `${turns} turns of the event loop while two pages were read`);
  });
});

test('a search goes on through as many rounds as the store takes, to the end or the limit, saying where it is', async () => {
  await withTempStore(async (store) => {
    const log = new AuditLog(store.audit, newStreamName('gw'));
    log.durability = 'process-crash';
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        log.append({ kind: 'config.reloaded', tool: i % 10 === 3 ? 'srv__rare' : 'srv__common', detail: { i } }),
      ),
    );
    await log.close();
    const rounds: Array<[number, number]> = [];
    // One window of 7 positions per round (no time to spare): 15 rounds over 101 records.
    const tiny = { window: 7, budgetMs: 0 };
    const rare = await searchAll(store.audit, { tool: 'srv__rare', limit: 100 }, (at, n) => rounds.push([at, n]), tiny);
    assert.deepEqual(
      rare.map((r) => r.event.detail?.i),
      [3, 13, 23, 33, 43, 53, 63, 73, 83, 93],
    );
    assert.equal(rounds.length, 14, 'every round but the last says where it stopped');
    assert.deepEqual(rounds[0], [7, 1], 'the first window: positions 1-7, record 3 in it');
    assert.ok(rounds.every(([at], k) => k === 0 || at > rounds[k - 1][0]));
    // The limit ends it early; progress is only ever said with fewer found than asked for.
    const said: number[] = [];
    const first3 = await searchAll(store.audit, { tool: 'srv__rare', limit: 3 }, (_, n) => said.push(n), tiny);
    assert.ok(said.length > 0 && said.every((n) => n < 3), JSON.stringify(said));
    assert.deepEqual(
      first3.map((r) => r.event.detail?.i),
      [3, 13, 23],
    );
  });
});
