import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerConfig } from '../../config/schema.ts';
import { GatehouseError } from '../../protocol/errors.ts';
import { connectionOf, routeOf, serverConfigOf, upstreamOf } from './needs.ts';
import { fakeUpstream, state } from './fakes.test-util.ts';

const internal = (err: unknown) => err instanceof GatehouseError && err.code === 'E_INTERNAL';

test('what an earlier stage set is handed on as it is', () => {
  const route = { server: 'mt', tool: 'write', def: {}, qualified: 'mt__write', item: 'write' };
  const up = fakeUpstream();
  const s = state({ route, upstream: { name: 'write' }, up });
  assert.equal(routeOf(s), route);
  assert.deepEqual(upstreamOf(s), { name: 'write' });
  assert.equal(connectionOf(s), up);
});

test('a stage run before the one that sets what it needs is an internal error, not a TypeError', () => {
  const s = state();
  assert.throws(() => routeOf(s), internal);
  assert.throws(() => upstreamOf(s), internal);
  assert.throws(() => connectionOf(s), internal);
});

test('a server a reload removed while the call was on its way is unavailable', () => {
  const cfg = { name: 'mt', transport: 'stdio' } as Partial<ServerConfig> as ServerConfig;
  const credentials = { configOf: (n: string) => (n === 'mt' ? cfg : undefined) } as never;
  assert.equal(serverConfigOf(credentials, 'mt'), cfg);
  assert.throws(
    () => serverConfigOf(credentials, 'gone'),
    (err: unknown) =>
      err instanceof GatehouseError &&
      err.code === 'E_UPSTREAM_UNAVAILABLE' &&
      err.message === 'upstream `gone` is no longer configured',
  );
});
