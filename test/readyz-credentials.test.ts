/**
 * /readyz counts every enabled server, including one that has no connection at all because its
 * credentials are unavailable (walk L: a server whose secret was missing was left out of the answer,
 * and a gateway whose only server could not start said "ready"). Once the secret exists, the server
 * starts on its next retry and the gateway is ready.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { eventually } from './support/eventually.ts';

let t: TestGateway;
let stateDir = '';

before(async () => {
  t = await startGateway(
    `${stdioServer('everything', join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), ['stdio'])}    credentials: { env: { API_TOKEN: "local:not-made-yet" } }\n`,
    {
      waitMs: 3000,
      before: async (dir) => {
        stateDir = dir;
      },
    },
  );
});
after(async () => {
  await t?.close();
});

const readyz = async () => {
  const r = await fetch(`${t.url}/readyz`);
  return { status: r.status, body: (await r.json()) as { status: string; upstreams: Record<string, string> } };
};

test('a server whose credentials are unavailable makes the gateway not ready, named with why; ready once the secret exists', async () => {
  const before = await eventually(async () => {
    const r = await readyz();
    return r.body.upstreams.everything === 'credentials unavailable' ? r : undefined;
  });
  assert.equal(before.status, 503);
  assert.equal(before.body.status, 'not ready');
  await (await localSecrets(stateDir)).set('not-made-yet', 'now-it-is');
  const after = await eventually(
    async () => {
      const r = await readyz();
      return r.status === 200 ? r : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.deepEqual(after.body.upstreams, { everything: 'ready' });
});
