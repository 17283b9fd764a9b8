import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerConfig } from '../../config/schema.ts';
import { GatehouseError } from '../../protocol/errors.ts';
import { connectUpstream } from './connect-upstream.ts';
import { deps, fakeUpstream, principal, state, thrown } from './fakes.test-util.ts';

const call = (p = principal()) => {
  const s = state({ ctx: { principal: p } });
  s.route = { server: 'mt', tool: 'whoami', def: {}, qualified: 'mt__whoami', item: 'whoami' };
  return s;
};

test("the pool is asked for this server's connection of the caller's own tenant and subject; its secrets are noted for redaction", async () => {
  const cfg = { name: 'mt', transport: 'stdio' } as Partial<ServerConfig> as ServerConfig;
  const up = fakeUpstream();
  const asked: unknown[][] = [];
  const credentials = {
    configOf: (server: string) => (server === 'mt' ? cfg : undefined),
    pool: {
      get: async (...a: unknown[]) => {
        asked.push(a);
        return { up, values: ['s3cret-value'] };
      },
    },
  };
  const s = call(principal({ tenant: 'globex', subject: 'bob' }));
  await connectUpstream(s, deps({ credentials: credentials as never }));
  assert.equal(asked.length, 1);
  assert.deepEqual(asked[0].slice(0, 3), [cfg, 'globex', 'bob']);
  assert.equal(s.up, up);
  assert.deepEqual(s.injected, ['s3cret-value']);
});

test('credentials that cannot be had refuse the request here, with nothing connected', async () => {
  const credentials = {
    configOf: () => ({ name: 'mt' }),
    pool: {
      get: async () => {
        throw new GatehouseError('E_CREDENTIAL_UNAVAILABLE');
      },
    },
  };
  const s = call();
  const err = await thrown(() => connectUpstream(s, deps({ credentials: credentials as never })));
  assert.equal(err.code, 'E_CREDENTIAL_UNAVAILABLE');
  assert.deepEqual([s.up, s.injected], [undefined, undefined]);
});
