import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeTool } from './route-tool.ts';
import { catalogOf, deps, state, thrown } from './fakes.test-util.ts';

const SCHEMA = { type: 'object', properties: { path: { type: 'string' } } };
const servers = {
  mt: { tools: [{ name: 'read_file', inputSchema: SCHEMA }] },
  twin: { tools: [{ name: 'read_file' }] },
};
/** The servers configured: mt and twin, and `late`, which has no catalogue (it never connected). */
const credentials = {
  configOf: (n: string) => (['mt', 'twin', 'late'].includes(n) ? ({ name: n } as never) : undefined),
} as never;

test('a namespaced name routes to its server, and the upstream is sent its own name with the other params', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = state({
    requested: 'mt__read_file',
    params: { name: 'mt__read_file', arguments: { path: '/x' }, _meta: { progressToken: 1 } },
  });
  await routeTool(s, deps({ catalog, upstreams }));
  assert.deepEqual(s.route, {
    server: 'mt',
    tool: 'read_file',
    def: { name: 'read_file', inputSchema: SCHEMA },
    qualified: 'mt__read_file',
    item: 'read_file',
  });
  assert.deepEqual(s.upstream, { name: 'read_file', arguments: { path: '/x' }, _meta: { progressToken: 1 } });
  const t = state({ requested: 'twin__read_file', params: { name: 'twin__read_file' } });
  await routeTool(t, deps({ catalog, upstreams }));
  assert.equal(t.route!.server, 'twin');
});

test('an unknown tool, a tool of an unknown server, a bare name and a server without a connection all give the same answer', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const noConnection = new Map([...upstreams].filter(([n]) => n !== 'twin'));
  const cases: Array<[string, typeof upstreams]> = [
    ['mt__nope', upstreams],
    ['nope__read_file', upstreams],
    ['read_file', upstreams],
    ['twin__read_file', noConnection],
    ['mt__', upstreams],
    ['__read_file', upstreams],
  ];
  for (const [name, ups] of cases) {
    const s = state({ requested: name, params: { name } });
    const err = await thrown(() => routeTool(s, deps({ catalog, upstreams: ups, credentials })));
    assert.equal(err.code, 'E_UNKNOWN_TOOL', name);
    assert.equal(err.message, `unknown tool \`${name}\``);
    assert.equal(err.data, undefined);
    assert.equal(s.route, undefined);
  }
});

test("on a per-server endpoint names are the server's own: a namespaced name or another server's tool is unknown", async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = state({ requested: 'read_file', params: { name: 'read_file' }, ctx: { scope: 'mt' } });
  await routeTool(s, deps({ catalog, upstreams }));
  assert.deepEqual(
    [s.route!.server, s.route!.tool, s.route!.qualified, s.upstream!.name],
    ['mt', 'read_file', 'mt__read_file', 'read_file'],
  );
  for (const name of ['mt__read_file', 'twin__read_file']) {
    const err = await thrown(() =>
      routeTool(state({ requested: name, params: { name }, ctx: { scope: 'mt' } }), deps({ catalog, upstreams })),
    );
    assert.equal(err.code, 'E_UNKNOWN_TOOL', name);
  }
});

test('a name of a configured server that never connected is routed as written and marked, for authorize to judge', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = state({ requested: 'late__get-sum', params: { name: 'late__get-sum', arguments: { a: 1 } } });
  await routeTool(s, deps({ catalog, upstreams, credentials }));
  assert.deepEqual(s.route, {
    server: 'late',
    tool: 'get-sum',
    def: {},
    qualified: 'late__get-sum',
    item: 'get-sum',
    unconnected: true,
  });
  // Not configured (or disabled), or a name of no server at all: unknown, as before.
  for (const name of ['gone__get-sum', 'late__', 'get-sum']) {
    const err = await thrown(() =>
      routeTool(state({ requested: name, params: { name } }), deps({ catalog, upstreams, credentials })),
    );
    assert.equal(err.code, 'E_UNKNOWN_TOOL', name);
  }
});
