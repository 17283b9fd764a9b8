import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeResource } from './route-resource.ts';
import { catalogOf, deps, principal, state, thrown } from './fakes.test-util.ts';

const TOKEN = { uri: 'secret://token', name: 'token' };
const TEMPLATE = { uriTemplate: 'file:///{+path}', name: 'files' };
const servers = { mt: { resources: [TOKEN], resourceTemplates: [TEMPLATE] }, twin: { resources: [TOKEN] } };
const read = (uri: string, scope = '', tenant = 'acme') =>
  state({
    method: 'resources/read',
    kind: 'resource',
    requested: uri,
    params: { uri },
    ctx: { scope, principal: principal({ tenant }) },
  });
/** Servers configured without per-tenant credentials (what the catalogue lists is everyone's). */
const alike = { credentials: { configOf: () => ({ name: 'mt', transport: 'stdio', command: 'x' }) } as never };

test('on the aggregate endpoint `gatehouse:<server>/<uri>` routes to that server, which is sent its own URI', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = read('gatehouse:mt/secret://token');
  await routeResource(s, deps({ catalog, upstreams, ...alike }));
  assert.deepEqual(s.route, {
    server: 'mt',
    tool: 'secret://token',
    def: TOKEN,
    qualified: 'gatehouse:mt/secret://token',
    item: 'resource:secret://token',
    resource: { kind: 'id', value: 'secret://token' },
  });
  assert.deepEqual(s.upstream, { uri: 'secret://token' });
  // The same URI listed by a second server is that server's: neither captures the other's reads.
  const t = read('gatehouse:twin/secret://token');
  await routeResource(t, deps({ catalog, upstreams, ...alike }));
  assert.deepEqual([t.route!.server, t.route!.qualified], ['twin', 'gatehouse:twin/secret://token']);
});

test('a URI matching a template is judged as that template; one the server did not list has no item of its own', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = read('gatehouse:mt/file:///srv/data/notes.txt');
  await routeResource(s, deps({ catalog, upstreams, ...alike }));
  assert.deepEqual(
    [s.route!.tool, s.route!.item, s.route!.def],
    ['file:///srv/data/notes.txt', 'template:file:///{+path}', TEMPLATE],
  );
  const u = read('gatehouse:twin/other://thing');
  await routeResource(u, deps({ catalog, upstreams, ...alike }));
  assert.deepEqual([u.route!.server, u.route!.tool, u.route!.item, u.route!.def], ['twin', 'other://thing', '', {}]);
});

test('a bare URI, an unknown server, an empty server or URI, and another scheme are unknown on the aggregate endpoint', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  for (const uri of [
    'secret://token',
    'gatehouse:nope/secret://token',
    'gatehouse:/secret://token',
    'gatehouse:mt/',
    'gatehouse:mt',
    'GATEHOUSE:mt/secret://token',
    'mt/secret://token',
  ]) {
    const s = read(uri);
    const err = await thrown(() => routeResource(s, deps({ catalog, upstreams, ...alike })));
    assert.deepEqual([err.code, err.message], ['E_UNKNOWN_RESOURCE', `unknown resource \`${uri}\``], uri);
    assert.equal(s.route, undefined);
  }
});

test("on a per-server endpoint the URI is the server's own, still namespaced for policy", async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = read('secret://token', 'mt');
  await routeResource(s, deps({ catalog, upstreams, ...alike }));
  assert.deepEqual(
    [s.route!.server, s.route!.tool, s.route!.qualified, s.upstream!.uri],
    ['mt', 'secret://token', 'gatehouse:mt/secret://token', 'secret://token'],
  );
  const err = await thrown(() => routeResource(read('secret://token', 'gone'), deps({ catalog, upstreams, ...alike })));
  assert.equal(err.code, 'E_UNKNOWN_RESOURCE');
});

test("with per-tenant credentials a listed resource is its discovery tenant's: to another tenant its URI is one nothing lists", async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const cfg = {
    name: 'mt',
    transport: 'stdio',
    command: 'x',
    credentials: { env: { TOKEN: 'local:{tenant}-token' }, discoveryTenant: 'acme' },
  };
  const perTenant = deps({ catalog, upstreams, credentials: { configOf: () => cfg } as never });
  const own = read('gatehouse:mt/secret://token', '', 'acme');
  await routeResource(own, perTenant);
  assert.deepEqual([own.route!.item, own.route!.def], ['resource:secret://token', TOKEN]);
  const other = read('gatehouse:mt/secret://token', '', 'globex');
  await routeResource(other, perTenant);
  assert.deepEqual(
    [other.route!.server, other.route!.tool, other.route!.item, other.route!.def, other.upstream!.uri],
    ['mt', 'secret://token', '', {}, 'secret://token'],
  );
  // Templates are definitions, the same for every tenant.
  const file = read('gatehouse:mt/file:///srv/notes.txt', '', 'globex');
  await routeResource(file, perTenant);
  assert.equal(file.route!.item, 'template:file:///{+path}');
});

test('another spelling of a listed URI is that listed resource to every later stage, and goes upstream canonical', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  for (const uri of ['gatehouse:mt/SECRET://token', 'gatehouse:mt/secret://t%6Fken', 'gatehouse:mt/Secret://%74oken']) {
    const s = read(uri);
    await routeResource(s, deps({ catalog, upstreams, ...alike }));
    assert.deepEqual(
      [s.route!.tool, s.route!.qualified, s.route!.item, s.route!.def, s.upstream!.uri],
      ['secret://token', 'gatehouse:mt/secret://token', 'resource:secret://token', TOKEN, 'secret://token'],
      uri,
    );
  }
  // The per-server endpoint alike.
  const scoped = read('SECRET://tok%65n', 'mt');
  await routeResource(scoped, deps({ catalog, upstreams, ...alike }));
  assert.deepEqual([scoped.route!.item, scoped.upstream!.uri], ['resource:secret://token', 'secret://token']);
});

test('a server listing one resource under two spellings: the read names both items', async () => {
  const twice = {
    mt: {
      resources: [
        { uri: 'tenant://a/evil', name: 'evil' },
        { uri: 'TENANT://a/%65vil', name: 'x' },
      ],
    },
  };
  const { catalog, upstreams } = await catalogOf(twice);
  const s = read('gatehouse:mt/tenant://a/evil');
  await routeResource(s, deps({ catalog, upstreams, ...alike }));
  assert.deepEqual(
    [s.route!.item, s.route!.also, s.upstream!.uri],
    ['resource:tenant://a/evil', ['resource:TENANT://a/%65vil'], 'tenant://a/evil'],
  );
});

test('a URI with no canonical form is routed to its server with no item, and why is kept for validate', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  for (const uri of ['secret://a/../token', 'secret://a/./token', 'secret://a/\uff0e/token', 'secret://a/token/.']) {
    const s = read(`gatehouse:mt/${uri}`);
    await routeResource(s, deps({ catalog, upstreams, ...alike }));
    assert.deepEqual([s.route!.server, s.route!.tool, s.route!.item], ['mt', uri, ''], uri);
    assert.match((s.route!.resource as { refused: string }).refused, /segment|look-alike/, uri);
  }
});
