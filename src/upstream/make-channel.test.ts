import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../protocol/errors.ts';
import type { ServerConfig } from '../config/schema.ts';
import { fetchHint } from './make-channel.ts';

const timeout = new GatehouseError('E_UPSTREAM_TIMEOUT', 'upstream timed out after 15000 ms');
const server = (over: Record<string, unknown>) =>
  ({
    name: 's',
    transport: 'stdio',
    command: 'npx',
    args: ['--no', 'x'],
    sandbox: {},
    ...over,
  }) as unknown as ServerConfig;

test('a package runner in a sandbox without network that timed out is told why it may have hung', () => {
  for (const command of ['npx', '/usr/bin/npx', 'uvx', 'pnpm'])
    assert.match(
      fetchHint(server({ command }), timeout) ?? '',
      /in a sandbox without network, which waits for the registry/,
    );
  assert.ok(fetchHint(server({ sandbox: { network: 'none' } }), timeout));
});

test('no hint where that cannot be why: another error, a network, no sandbox, another command, HTTP', () => {
  assert.equal(fetchHint(server({}), new Error('exited')), undefined);
  assert.equal(fetchHint(server({}), new GatehouseError('E_UPSTREAM_FAILED', 'x')), undefined);
  assert.equal(fetchHint(server({ sandbox: { network: 'host' } }), timeout), undefined);
  assert.equal(fetchHint(server({ sandbox: { network: { allow: ['registry.npmjs.org:443'] } } }), timeout), undefined);
  assert.equal(fetchHint(server({ sandbox: undefined }), timeout), undefined);
  assert.equal(fetchHint(server({ command: 'node' }), timeout), undefined);
  assert.equal(
    fetchHint({ name: 'h', transport: 'http', url: 'http://x/mcp' } as unknown as ServerConfig, timeout),
    undefined,
  );
});
