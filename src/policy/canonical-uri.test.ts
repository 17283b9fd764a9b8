import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalResourceUri, realPathOf, type UriCanon } from './canonical.ts';

const ok = (raw: unknown) => {
  const c = canonicalResourceUri(raw);
  assert.ok(c.ok, `${String(raw)}: ${c.ok ? '' : c.reason}`);
  return c as Extract<UriCanon, { ok: true }>;
};
const refused = (raw: unknown, reason: RegExp) => {
  const c = canonicalResourceUri(raw);
  assert.ok(!c.ok, `${String(raw)} was let through as ${JSON.stringify(c)}`);
  assert.match((c as { reason: string }).reason, reason, String(raw));
};

test('http(s) URIs are urls in WHATWG form: lowercase host, default port and fragment dropped, dot segments resolved', () => {
  const c = ok('HTTPS://Docs.Example.COM:443/a/./b/../c?q=1#frag');
  assert.deepEqual(
    [c.resource, c.uri, c.changed],
    [{ kind: 'url', value: 'https://docs.example.com/a/c?q=1' }, 'https://docs.example.com/a/c?q=1', true],
  );
  assert.equal(ok('https://docs.example.com/a').changed, false);
  assert.equal(ok('https://bücher.example/').uri, 'https://xn--bcher-kva.example/');
  refused('https://user:pw@docs.example.com/', /credentials/);
  refused('https://@docs.example.com/', /credentials/);
  refused('https://docs.example.com/a%2f..%2fb', /percent-encoded/);
});

test('file URIs are paths: decoded once, `//` and `/./` collapsed, forwarded re-encoded', () => {
  const c = ok('file:///srv//data/./a%20b.txt');
  assert.deepEqual(
    [c.resource, c.uri, c.changed],
    [{ kind: 'path', value: '/srv/data/a b.txt' }, 'file:///srv/data/a%20b.txt', true],
  );
  const plain = ok('file:///srv/data/notes.txt');
  assert.deepEqual([plain.resource.value, plain.changed], ['/srv/data/notes.txt', false]);
  assert.equal(ok('file://localhost/srv/x').resource.value, '/srv/x');
  assert.equal(ok('file:///srv/caf%C3%A9').resource.value, '/srv/café');
  assert.equal(ok('file:///srv/data/').resource.value, '/srv/data');
});

test('file URIs: traversal in any encoding or look-alike, remote hosts, queries and hidden characters are refused', () => {
  for (const uri of [
    'file:///srv/data/../etc/passwd',
    'file:///srv/data/..',
    'file:///srv/data/%2e%2e/etc',
    'file:///srv/data/%2E%2E/etc',
    'file:///srv/data/.%2e/etc',
    'file:///srv/data/%252e%252e/etc',
    'file:///srv/data/%2fetc',
    'file:///srv/data/%5c..',
    'file:///srv/data/%00',
  ]) {
    refused(uri, /\.\.|percent-encoded/);
  }
  // Fullwidth `．．／` is `../` to anything that normalises later, raw or percent-encoded.
  refused('file:///srv/data/\uff0e\uff0e\uff0fetc/passwd', /\.\.|look-alike/);
  refused('file:///srv/data/%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc/passwd', /\.\.|look-alike/);
  refused('file:///srv/data/\uff0e\uff0e/etc', /\.\./);
  refused('file:///srv/data/a\uff0fb', /look-alike/);
  refused('file://evil.example/srv/data/x', /remote host/);
  refused('file:///srv/data/x?y=1', /query or fragment/);
  refused('file:///srv/data/x#y', /query or fragment/);
  refused('file:///srv/data/x\u200b', /invisible/);
  refused('file:///srv/data/x%E2%80%8B', /invisible/);
  refused('file:///srv/data/%ZZ', /percent-encoding|not a valid uri/);
  refused('file://user@localhost/srv', /credentials|not a valid uri/);
});

test('other schemes are ids: serialised by WHATWG, traversal and encoded separators refused', () => {
  const c = ok('secret://token');
  assert.deepEqual([c.resource, c.uri, c.changed], [{ kind: 'id', value: 'secret://token' }, 'secret://token', false]);
  assert.equal(ok('SECRET://token').uri, 'secret://token');
  assert.equal(ok('urn:isbn:0451450523').resource.kind, 'id');
  for (const uri of [
    'secret://a/../b',
    'secret://a/%2e%2e/b',
    'secret://a/%252e%252e/b',
    'secret://a/\uff0e\uff0e/b',
    'secret://a/%EF%BC%8E%EF%BC%8E/b',
    'secret://a%2fb',
  ])
    refused(uri, /\.\.|percent-encoded/);
  refused('secret://user:pw@host/x', /credentials/);
});

test('one resource, one name: scheme case and percent-encoded unreserved characters are canonical, `.` segments and look-alike dots refused', () => {
  for (const raw of ['TENANT://ta/evil', 'tenant://ta/%65vil', 'tenant://t%61/evil', 'Tenant://ta/%65%76%69%6C'])
    assert.equal(ok(raw).uri, 'tenant://ta/evil', raw);
  // Other percent-encodings stay, with uppercase hex.
  assert.equal(ok('tenant://ta/a%c3%a9').uri, 'tenant://ta/a%C3%A9');
  for (const raw of ['tenant://ta/./evil', 'tenant://ta/././evil', 'tenant://ta/evil/.', 'urn:a/./b'])
    refused(raw, /`\.` segment/);
  for (const raw of [
    'tenant://ta/\uff0e/evil',
    'tenant://ta/%EF%BC%8E/evil',
    'tenant://ta\uff0fevil',
    'tenant://ta/\u2024/evil', // one dot leader
  ])
    refused(raw, /look-alike/);
  refused('tenant://ta/\u2025/evil', /\.\./); // two dot leader
  // Respellings (walk CC): a fragment and an empty query go; `//` is refused; composed and decomposed
  // text, raw or percent-encoded, is one name.
  for (const raw of ['tenant://ta/evil#x', 'tenant://ta/evil?', 'tenant://ta/evil?#'])
    assert.equal(ok(raw).uri, 'tenant://ta/evil', raw);
  refused('tenant://ta//evil', /empty segment/);
  const composed = ok('tenant://ta/\u00e9vil').uri;
  for (const raw of ['tenant://ta/e\u0301vil', 'tenant://ta/e%CC%81vil', 'tenant://ta/%c3%a9vil'])
    assert.equal(ok(raw).uri, composed, raw);
  // A query that says something stays.
  assert.equal(ok('tenant://ta/evil?v=1').uri, 'tenant://ta/evil?v=1');
});

test('http(s) URIs: look-alike dots in the path are refused as in a path; percent-encoded unreserved characters decoded', () => {
  for (const raw of [
    'https://docs.allowed.test/x/\uff0e\uff0e/y',
    'https://docs.allowed.test/\u2025/x',
    'https://docs.allowed.test/x/%EF%BC%8E%EF%BC%8E/y',
  ])
    refused(raw, /`\.\.` segment/);
  refused('https://docs.allowed.test/x/\uff0e/y', /look-alike/);
  refused('https://docs.allowed.test/x\uff0fy', /look-alike/);
  assert.equal(ok('https://docs.allowed.test/%7euser/%41?q=%2d%2f').uri, 'https://docs.allowed.test/~user/A?q=-%2F');
});

test('what is not a URI at all is refused with a reason', () => {
  refused(undefined, /must be a string/);
  refused(7, /must be a string/);
  refused('', /empty/);
  refused('no scheme here', /whitespace/);
  refused('relative/path', /not a valid uri/);
  refused('file:///a\\b', /backslash/);
  refused(`file:///${'a'.repeat(9000)}`, /longer than 8192/);
});

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-realpath-')));
after(() => rmSync(tmp, { recursive: true, force: true }));
mkdirSync(join(tmp, 'allowed'));
mkdirSync(join(tmp, 'elsewhere'));
writeFileSync(join(tmp, 'outside.txt'), 'x');
symlinkSync(join(tmp, 'outside.txt'), join(tmp, 'allowed', 'link.txt'));
symlinkSync(join(tmp, 'allowed', 'link.txt'), join(tmp, 'allowed', 'chain.txt'));
symlinkSync(join(tmp, 'elsewhere'), join(tmp, 'allowed', 'dir'));
symlinkSync(join(tmp, 'elsewhere', 'not-yet.txt'), join(tmp, 'allowed', 'dangling.txt'));

test('realPathOf: a link, a chain of links or a linked folder on the way is judged by where it points', async () => {
  assert.equal(await realPathOf(join(tmp, 'allowed', 'link.txt')), join(tmp, 'outside.txt'));
  assert.equal(await realPathOf(join(tmp, 'allowed', 'chain.txt')), join(tmp, 'outside.txt'));
  assert.equal(await realPathOf(join(tmp, 'allowed', 'dir')), join(tmp, 'elsewhere'));
  assert.equal(
    await realPathOf(join(tmp, 'allowed', 'dir', 'sub', 'new.txt')),
    join(tmp, 'elsewhere', 'sub', 'new.txt'),
  );
});

test('realPathOf: a path that does not exist yet is its real parent and the rest; nothing at all exists: as given', async () => {
  assert.equal(await realPathOf(join(tmp, 'allowed', 'new', 'file.txt')), join(tmp, 'allowed', 'new', 'file.txt'));
  assert.equal(await realPathOf('/gatehouse-no-such-root/a/b'), '/gatehouse-no-such-root/a/b');
  assert.equal(await realPathOf('/'), '/');
});

test('realPathOf: a dangling link is judged by where it points (writing through it creates the target)', async () => {
  assert.equal(await realPathOf(join(tmp, 'allowed', 'dangling.txt')), join(tmp, 'elsewhere', 'not-yet.txt'));
});
