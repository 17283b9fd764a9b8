import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../config/schema.ts';
import { forwardedUri, type ForwardedUri } from './resource-uri.ts';

// A real folder with a link inside it that points outside it (realpath: the temp dir may itself be a link).
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-resource-uri-')));
const allowed = join(tmp, 'allowed');
mkdirSync(join(allowed, 'sub'), { recursive: true });
writeFileSync(join(tmp, 'outside.txt'), 'outside');
symlinkSync(join(tmp, 'outside.txt'), join(allowed, 'link.txt'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const on = (transport: 'stdio' | 'http') => ({
  credentials: { configOf: (name: string) => ({ name, transport }) as Partial<ServerConfig> as ServerConfig } as never,
});
const ok = async (raw: string, transport: 'stdio' | 'http' = 'stdio') => {
  const c = await forwardedUri(on(transport), 'mt', raw);
  assert.ok(c.ok, `${raw}: ${c.ok ? '' : c.reason}`);
  return c as Extract<ForwardedUri, { ok: true }>;
};

test('a resource URI is made the form that is judged and forwarded', async () => {
  const file = await ok(`file://${allowed}//sub/./x.txt`);
  assert.deepEqual(
    [file.uri, file.resource, file.forms],
    [`file://${allowed}/sub/x.txt`, { kind: 'path', value: `${allowed}/sub/x.txt` }, [`file://${allowed}/sub/x.txt`]],
  );
  const url = await ok('https://Example.COM:443/a/./b/%7eme#x');
  assert.deepEqual(
    [url.uri, url.resource],
    ['https://example.com/a/b/~me', { kind: 'url', value: 'https://example.com/a/b/~me' }],
  );
  const id = await ok('TENANT://ta/%65vil');
  assert.deepEqual([id.uri, id.resource], ['tenant://ta/evil', { kind: 'id', value: 'tenant://ta/evil' }]);
});

test('on a local server a file URI through a symlink is its real path; both forms name what the server lists', async () => {
  const real = `file://${join(tmp, 'outside.txt')}`;
  const c = await ok(`file://${allowed}/link.txt`);
  assert.deepEqual(
    [c.uri, c.resource, c.forms],
    [real, { kind: 'path', value: join(tmp, 'outside.txt') }, [`file://${allowed}/link.txt`, real]],
  );
  // A remote server's paths are not the gateway's files.
  const remote = await ok(`file://${allowed}/link.txt`, 'http');
  assert.deepEqual(remote.resource, { kind: 'path', value: `${allowed}/link.txt` });
});

test('a URI with no canonical form says why', async () => {
  for (const raw of [
    `file://${allowed}/../outside.txt`,
    `file://${allowed}/\uff0e\uff0e\uff0foutside.txt`,
    'secret://a/../b',
    'secret://a/./b',
    'https://u:p@example.com/',
  ]) {
    const c = await forwardedUri(on('stdio'), 'mt', raw);
    assert.ok(!c.ok, raw);
  }
});
