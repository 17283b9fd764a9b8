/**
 * Walk S (F4): `headers: { X-Api-Key: a, x-api-key: b }` validated, and only one of the two went
 * upstream; `Content-Encoding` and `Trailer` (which describe the body the gateway writes) were
 * accepted. `gatehouse config validate` now refuses each at its line, echoing no value.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-headers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('config validate refuses header names that differ only in case, Content-Encoding and Trailer, at their lines', async () => {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    [
      'version: 1',
      `gateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }`,
      'servers:',
      '  - name: remote',
      '    transport: http',
      '    url: https://mcp.example.com/mcp',
      '    headers:',
      '      X-Api-Key: a-CANARY',
      '      x-api-key: b-CANARY',
      '      Content-Encoding: gzip',
      '      Trailer: X-Sum',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config', 'validate', '-c', file]);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 2, out);
  assert.match(out, /gatehouse\.yaml:9:7: servers\[0\]\.headers: `x-api-key` is set twice \(as `X-Api-Key` too\)/);
  assert.match(out, /gatehouse\.yaml:10:7: servers\[0\]\.headers: `Content-Encoding` cannot be set here/);
  assert.match(out, /gatehouse\.yaml:11:7: servers\[0\]\.headers: `Trailer` cannot be set here/);
  assert.ok(!out.includes('CANARY'), 'no value is echoed');
});
