import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../protocol/errors.ts';
import type { ServerConfig } from '../config/schema.ts';
import { fetchHint } from './make-channel.ts';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

test('a server folder whose node_modules links out of it, to a folder the sandbox does not show, is told so and what to add', () => {
  const root = mkdtempSync(join(tmpdir(), 'gh-linked-'));
  try {
    const elsewhere = join(root, 'elsewhere', 'node_modules');
    const folder = join(root, 'checkout');
    mkdirSync(elsewhere, { recursive: true });
    mkdirSync(folder);
    symlinkSync(elsewhere, join(folder, 'node_modules'));
    const hint = fetchHint(server({ cwd: folder }), timeout) ?? '';
    assert.match(hint, /not where that folder's `node_modules` links to/);
    assert.ok(hint.includes(`add \`${elsewhere}\` to \`sandbox.paths.read\``), hint);
    // Once shown, the registry is again the likely reason.
    const shown = fetchHint(server({ cwd: folder, sandbox: { paths: { read: [join(root, 'elsewhere')] } } }), timeout);
    assert.match(shown ?? '', /which waits for the registry/);
    // A link inside the folder itself is seen by the server.
    const inner = join(root, 'inner');
    mkdirSync(join(inner, 'real'), { recursive: true });
    symlinkSync(join(inner, 'real'), join(inner, 'node_modules'));
    assert.match(fetchHint(server({ cwd: inner }), timeout) ?? '', /which waits for the registry/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
