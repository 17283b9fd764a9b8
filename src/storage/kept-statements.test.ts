import { test } from 'node:test';
import assert from 'node:assert/strict';
import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { keepingStatements } from './kept-statements.ts';

function fresh() {
  const raw = new Sqlite(':memory:');
  raw.exec('create table t (id integer primary key, name text)');
  raw.exec("insert into t (name) values ('a'), ('b'), ('c')");
  return raw;
}

test('the same SQL text gets the same prepared statement', () => {
  const db = keepingStatements(fresh());
  const a = db.prepare('select name from t where id = ?');
  assert.equal(db.prepare('select name from t where id = ?'), a);
  assert.notEqual(db.prepare('select id from t where id = ?'), a);
  assert.deepEqual(a.all([2]), [{ name: 'b' }]);
});

test('a statement still iterating is not handed out again', () => {
  const db = keepingStatements(fresh());
  const q = 'select name from t order by id';
  const it = db.prepare(q).iterate([]);
  assert.deepEqual(it.next().value, { name: 'a' });
  const other = db.prepare(q);
  assert.deepEqual(other.all([]), [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
  assert.deepEqual(it.next().value, { name: 'b' }); // the first iteration goes on undisturbed
  it.return?.();
});

test('at most `max` statements are kept, the oldest dropped first', () => {
  const db = keepingStatements(fresh(), 2);
  const first = db.prepare('select 1');
  db.prepare('select 2');
  assert.equal(db.prepare('select 1'), first);
  db.prepare('select 3'); // drops `select 1`, the oldest kept
  assert.notEqual(db.prepare('select 1'), first);
});

test('a kept statement sees a schema change made after it was prepared (a migration)', async () => {
  const raw = fresh();
  const db = new Kysely<{ t: { id: number; name: string; extra?: string } }>({
    dialect: new SqliteDialect({ database: keepingStatements(raw) }),
  });
  const read = () => db.selectFrom('t').selectAll().where('id', '=', 1).executeTakeFirst();
  assert.deepEqual(await read(), { id: 1, name: 'a' });
  await sql`alter table t add column extra text default 'x'`.execute(db);
  assert.deepEqual(await read(), { id: 1, name: 'a', extra: 'x' });
  await db.destroy();
});
