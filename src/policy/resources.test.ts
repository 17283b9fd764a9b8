import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalId, canonicalPath, canonicalRepo, canonicalUrl, insidePath } from './canonical.ts';
import { extractResources, forbiddenKey } from './resources.ts';
import { compile } from './compile.ts';

const CYR_A = '\u0430'; // Cyrillic а

test('paths: hostile values are refused', () => {
  const refused: Array<[unknown, RegExp]> = [
    ['/srv/data/../etc/passwd', /`\.\.` segment/],
    ['/srv/data/%2e%2e%2fetc', /percent-encoded/],
    ['/srv/data/%2E%2E/etc', /percent-encoded/],
    ['/srv/data/%252e%252e%252fetc', /percent-encoded/],
    ['/srv/data/a\u0000b', /nul/],
    ['/srv/data\\..\\etc', /backslash/],
    ['/srv/data/\uff0e\uff0e/etc', /`\.\.` segment/], // fullwidth dots fold to `..`
    ['relative/path', /not absolute/],
    [['/a', '/b'], /must be a string, got an array/],
    [{ p: '/a' }, /got an object/],
    [42, /got a number/],
    ['', /empty/],
    ['/srv/data/a\u200bb', /invisible/],
  ];
  for (const [raw, re] of refused) {
    const c = canonicalPath(raw);
    assert.equal(c.ok, false, `${JSON.stringify(raw)} should be refused`);
    if (!c.ok) assert.match(c.reason, re, JSON.stringify(raw));
  }
});

test('paths: normalisation and segment-aware containment', () => {
  assert.deepEqual(canonicalPath('/srv//data/./x/'), { ok: true, value: '/srv/data/x', changed: true });
  assert.deepEqual(canonicalPath('/srv/data/x'), { ok: true, value: '/srv/data/x', changed: false });
  assert.equal(canonicalPath('/srv/data/tenant1_secrets/a', '/srv/data/tenant1').ok, false);
  assert.equal(canonicalPath('/srv/data/tenant1', '/srv/data/tenant1').ok, true);
  assert.equal(canonicalPath('/srv/data/tenant1/a', '/srv/data/tenant1').ok, true);
  assert.equal(insidePath('/srv/data/tenant1_secrets', '/srv/data/tenant1'), false);
  assert.equal(insidePath('/anything', '/'), true);
  assert.equal(canonicalPath('/srv/data/100%25/x').ok, false); // encoded % (double encoding) refused
  assert.equal(canonicalPath('/srv/data/a%20b').ok, true); // ordinary escapes are just characters
});

test('urls: only http(s), no userinfo, canonical form', () => {
  const refused = [
    'javascript:alert(1)',
    'file:///etc/passwd',
    'https://user:pass@example.com/',
    'https://user@example.com/',
    'https://@example.com/',
    'https://ex ample.com/',
    'https://example.com\\@evil.com/',
    'not a url',
    'https://example.com/a%2f..%2fb',
    'data:text/html,x',
  ];
  for (const raw of refused) assert.equal(canonicalUrl(raw).ok, false, raw);
  assert.deepEqual(canonicalUrl('HTTPS://Example.COM:443/a/./b/../c#frag'), {
    ok: true,
    value: 'https://example.com/a/c',
    changed: true,
  });
  assert.deepEqual(canonicalUrl('http://example.com:8080/x?q=1'), {
    ok: true,
    value: 'http://example.com:8080/x?q=1',
    changed: false,
  });
  const idn = canonicalUrl('https://bücher.example/');
  assert.ok(idn.ok && idn.value === 'https://xn--bcher-kva.example/');
  assert.equal(canonicalUrl(['https://a/']).ok, false);
});

test('ids and repos: invisible characters, look-alikes, segments', () => {
  const refusedIds: unknown[] = [
    'PROJ\u200b1',
    'PROJ\u202e1',
    'PROJ\u{e0041}',
    'PROJ\ufe0f',
    'a\u0007b',
    `pr${CYR_A}j`,
    7,
    null,
    ['a'],
  ];
  for (const raw of refusedIds) assert.equal(canonicalId(raw).ok, false, JSON.stringify(raw));
  assert.deepEqual(canonicalId('PROJ-1'), { ok: true, value: 'PROJ-1', changed: false });
  assert.deepEqual(canonicalId('cafe\u0301'), { ok: true, value: 'caf\u00e9', changed: true }); // NFC
  const refusedRepos = [
    'org/allowed/../other',
    'acme/',
    'acme//x',
    './x',
    'acme',
    `${CYR_A}cme/widgets`,
    'acme/wid gets',
    'acme/%2e%2e',
    'acme\\x',
  ];
  for (const raw of refusedRepos) assert.equal(canonicalRepo(raw).ok, false, raw);
  assert.deepEqual(canonicalRepo('acme/widgets'), { ok: true, value: 'acme/widgets', changed: false });
  assert.equal(canonicalRepo('ж/widgets').ok, true); // one script per segment is fine
});

test('forbidden keys anywhere in the arguments', () => {
  assert.equal(forbiddenKey(JSON.parse('{"a":{"__proto__":{"x":1}}}'))?.path, 'a.__proto__');
  assert.equal(forbiddenKey({ list: [{ constructor: 1 }] })?.path, 'list[0].constructor');
  assert.equal(forbiddenKey({ prototype: 1 })?.reason, 'argument key `prototype` is not allowed');
  assert.equal(forbiddenKey({ ok: [1, 'two', { three: 3 }] }), undefined);
  let deep: unknown = 1;
  for (let i = 0; i < 100; i++) deep = { d: deep };
  assert.match(forbiddenKey(deep)!.reason, /too deeply nested/);
});

const policy = compile(
  `
resources:
  - tool: 'github__*'
    resource: { kind: repo, template: '{owner}/{repo}' }
  - tool: github__search
    resource: { kind: id, arg: query }
  - tool: 'fs__*'
    resource: { kind: path, arg: path, root: /srv/data/tenant1 }
  - tool: 'web__*'
    resource: { kind: url, arg: url }
rules: []
`,
  'res.yaml',
);

test('extraction: exact tool beats glob; hostile arguments refused with the argument path', () => {
  assert.deepEqual(extractResources(policy.resources, 'github__get_issue', { owner: 'acme', repo: 'widgets' }), {
    ok: true,
    resources: [{ kind: 'repo', value: 'acme/widgets', raw: 'acme/widgets', changed: false, args: ['owner', 'repo'] }],
  });
  assert.deepEqual(extractResources(policy.resources, 'github__search', { query: 'X-1' }), {
    ok: true,
    resources: [{ kind: 'id', value: 'X-1', raw: 'X-1', changed: false, args: ['query'] }],
  });
  const refuse = (tool: string, args: unknown) => {
    const x = extractResources(policy.resources, tool, args);
    assert.equal(x.ok, false, JSON.stringify(args));
    return x.ok ? undefined : x;
  };
  assert.equal(refuse('github__get_issue', { owner: 'acme', repo: 'allowed/../other' })?.path, 'repo');
  assert.equal(refuse('github__get_issue', { owner: `${CYR_A}cme`, repo: 'widgets' })?.path, 'owner');
  assert.match(refuse('github__get_issue', { owner: ['acme', 'evil'], repo: 'widgets' })!.reason, /got an array/);
  assert.match(refuse('github__get_issue', { owner: 'acme' })!.reason, /missing argument `repo`/);
  assert.match(
    refuse('github__get_issue', JSON.parse('{"owner":"acme","repo":"w","__proto__":{"x":1}}'))!.reason,
    /`__proto__`/,
  );
  assert.match(refuse('github__get_issue', ['acme', 'widgets'])!.reason, /must be an object/);
  assert.match(refuse('fs__read', { path: '/srv/data/tenant1_secrets/x' })!.reason, /outside/);
  assert.match(
    refuse('fs__read', { path: '/srv/data/tenant1/x/' })!.reason,
    /not canonical \(expected `\/srv\/data\/tenant1\/x`\)/,
  );
  assert.match(refuse('fs__read', { path: '/srv/data/tenant1//x' })!.reason, /not canonical/);
  assert.match(refuse('fs__read', { path: '/srv/data/tenant1/%252e%252e%252f' })!.reason, /percent-encoded/);
  assert.match(refuse('github__search', { query: 'X\u200b1' })!.reason, /invisible/);
  assert.match(refuse('web__fetch', { url: 'https://user:pass@host/' })!.reason, /credentials/);
  assert.match(refuse('web__fetch', { url: 'javascript:alert(1)' })!.reason, /scheme/);
  // URLs: canonical value returned with `changed`, for the gateway to forward instead of the raw one.
  const u = extractResources(policy.resources, 'web__fetch', { url: 'https://Example.com' });
  assert.deepEqual(u, {
    ok: true,
    resources: [
      { kind: 'url', value: 'https://example.com/', raw: 'https://Example.com', changed: true, args: ['url'] },
    ],
  });
  // Tools without an extraction rule have no resources.
  assert.deepEqual(extractResources(policy.resources, 'other__x', { a: 1 }), { ok: true, resources: [] });
});
