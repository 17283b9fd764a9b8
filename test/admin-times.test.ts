/**
 * The admin API says every moment in ISO 8601, as the CLI's `--json` prints it (one rule:
 * src/util/iso-times.ts): no answer gives epoch milliseconds for a field another gives as text, and
 * what both serve is the same document (credentials, incidents, inventory events). Audit records are
 * answered as written; their times are ISO 8601 too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-admin-times-'));
let t: TestGateway;

before(async () => {
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(join(dir, 'rec.jsonl'))} }\n`,
  );
});
after(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function api(path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`${t.url}/admin/v1/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

/** A key that names a moment, as either side may spell it. */
const MOMENT = /(?:At|^at|^time|^windowStart|^windowEnd|^before)$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Every moment in an answer, `path: value`. */
function moments(v: unknown, at = ''): Array<[string, unknown]> {
  if (Array.isArray(v)) return v.flatMap((x, i) => moments(x, `${at}[${i}]`));
  if (!v || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]) => [
    ...(MOMENT.test(k) && (x === null || typeof x !== 'object') ? [[`${at}.${k}`, x] as [string, unknown]] : []),
    ...moments(x, `${at}.${k}`),
  ]);
}

test('every admin answer says its moments in ISO 8601; the same documents as the CLI --json', async () => {
  const revoked = await api('credentials/revoke', { ref: 'local:old-token', reason: 'rotated' });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  const opened = await api('incidents', { title: 'a leak', reason: 'drill', tool: 'rec__record', allowUnknown: true });
  assert.equal(opened.status, 201, JSON.stringify(opened.json));
  const id =
    (opened.json as { id?: string; incident?: { id: string } }).incident?.id ?? (opened.json as { id?: string }).id;
  assert.ok(id, JSON.stringify(opened.json));
  const prune = await api('audit/prune', { olderThan: '30d', reason: 'drill' });
  assert.equal(prune.status, 202, JSON.stringify(prune.json));
  const records = await api('audit/search?limit=50');
  const run = (records.json as { records: Array<{ runId?: string }> }).records.find((r) => r.runId)?.runId;
  const answers: Array<[string, unknown]> = [
    ['POST credentials/revoke', revoked.json],
    ['POST incidents', opened.json],
    ['POST audit/prune', prune.json],
    ['audit/search', records.json],
  ];
  for (const path of [
    'inventory',
    'inventory/diff',
    'inventory/events',
    'credentials',
    'check',
    'incidents',
    `incidents/${id}`,
    'audit/verify',
    ...(run ? [`audit/runs/${encodeURIComponent(run)}`] : []),
  ]) {
    const r = await api(path);
    assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.json)}`);
    answers.push([path, r.json]);
  }
  const seen = new Set<string>();
  for (const [path, body] of answers)
    for (const [where, value] of moments(body)) {
      if (value === null || value === undefined) continue;
      assert.match(String(value), ISO, `${path}${where} is ${JSON.stringify(value)}`);
      assert.equal(typeof value, 'string', `${path}${where}`);
      seen.add(
        where
          .replace(/\[\d+\]/g, '[]')
          .split('.')
          .at(-1)!,
      );
    }
  // Not vacuous: the fields that were numbers are among those seen.
  for (const k of ['revokedAt', 'openedAt', 'at', 'expiresAt', 'time']) assert.ok(seen.has(k), `${k} in ${[...seen]}`);

  // What the API and the CLI both serve is one document.
  const cli = async (...args: string[]) => {
    const r = await runCli([...args, '--json', '-c', t.file]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as unknown;
  };
  assert.deepEqual((await api('credentials')).json, await cli('credentials', 'list'));
  assert.deepEqual((await api('incidents')).json, await cli('incident', 'list'));
  assert.deepEqual(
    (await api('inventory/events?server=rec')).json,
    await cli('inventory', 'events', '--server', 'rec'),
  );
});
