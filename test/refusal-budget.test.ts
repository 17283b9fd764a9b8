/**
 * Refused requests spend a budget of their own: a caller probing for tools, arguments or paths is
 * stopped like one calling too often, while another caller is not, and nothing reaches the upstream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { postModernCall } from './support/rpc.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-refusals-'));
const record = join(tmp, 'rec.jsonl');
let t: TestGateway;
const keys: Record<string, string> = {};

before(async () => {
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(record)} }\n    tools: { record: { class: READ } }\n`,
    {
      top: 'identity: { apiKeys: true }\nlimits: { rules: [], refusals: { points: 5, perSeconds: 3600 } }\n',
    },
  );
  for (const name of ['prober', 'bystander'])
    keys[name] = await createKey(t.file, { name, tenant: 'acme', scopes: 'x' });
});
after(async () => {
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function call(
  who: string,
  name: string,
): Promise<{ error?: { code: number; message: string; data?: { retryAfterMs?: number } }; result?: unknown }> {
  const r = await postModernCall(t.url, name, {}, { token: keys[who], id: 1 });
  return (await r.json()) as never;
}

test('five refused probes spend the budget, the sixth finds it empty; then every request of that caller is refused with a retry time, and nobody else is', async () => {
  for (let i = 0; i < 5; i++) assert.match((await call('prober', `rec__guess_${i}`)).error!.message, /unknown tool/);
  // The sixth refusal finds the bucket empty: from then on the caller is refused before anything is looked up.
  assert.match((await call('prober', 'rec__guess_5')).error!.message, /unknown tool/);
  const blocked = await call('prober', 'rec__guess_6');
  assert.match(blocked.error!.message, /rate limited \(refusals\)/);
  assert.ok((blocked.error!.data?.retryAfterMs ?? 0) > 0);
  // Even a call that would be allowed waits for the budget.
  assert.match((await call('prober', 'rec__record')).error!.message, /rate limited \(refusals\)/);
  // Another principal is untouched.
  assert.ok((await call('bystander', 'rec__record')).result);
  const reached = readFileSync(record, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"')).length;
  assert.equal(reached, 1, 'only the bystander reached the upstream');
});
