import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routePrompt } from './route-prompt.ts';
import { catalogOf, deps, state, thrown } from './fakes.test-util.ts';

const servers = { mt: { prompts: [{ name: 'greet', arguments: [{ name: 'name' }] }], tools: [{ name: 'whoami' }] } };

test("a namespaced prompt routes to its server; the upstream is sent the prompt's own name", async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = state({
    method: 'prompts/get',
    kind: 'prompt',
    requested: 'mt__greet',
    params: { name: 'mt__greet', arguments: { name: 'Ada' } },
  });
  await routePrompt(s, deps({ catalog, upstreams }));
  assert.deepEqual(s.route, {
    server: 'mt',
    tool: 'greet',
    def: servers.mt.prompts[0],
    qualified: 'mt__greet',
    item: 'prompt:greet',
  });
  assert.deepEqual(s.upstream, { name: 'greet', arguments: { name: 'Ada' } });
});

/** No server is configured beyond those catalogued. */
const NOT_CONFIGURED = { configOf: () => undefined } as never;

test('an unknown prompt, a tool name, an unknown server and a server without a connection are all `unknown prompt`', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  for (const [name, ups] of [
    ['mt__nope', upstreams],
    ['mt__whoami', upstreams],
    ['x__greet', upstreams],
    ['mt__greet', new Map()],
  ] as const) {
    const s = state({ method: 'prompts/get', kind: 'prompt', requested: name, params: { name } });
    const err = await thrown(() => routePrompt(s, deps({ catalog, upstreams: ups, credentials: NOT_CONFIGURED })));
    assert.deepEqual([err.code, err.message], ['E_UNKNOWN_PROMPT', `unknown prompt \`${name}\``], name);
    assert.equal(s.route, undefined);
  }
});

test("on a per-server endpoint the prompt's own name routes and a namespaced one does not", async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = state({
    method: 'prompts/get',
    kind: 'prompt',
    requested: 'greet',
    params: { name: 'greet' },
    ctx: { scope: 'mt' },
  });
  await routePrompt(s, deps({ catalog, upstreams }));
  assert.equal(s.route!.qualified, 'mt__greet');
  const err = await thrown(() =>
    routePrompt(
      state({
        method: 'prompts/get',
        kind: 'prompt',
        requested: 'mt__greet',
        params: { name: 'mt__greet' },
        ctx: { scope: 'mt' },
      }),
      deps({ catalog, upstreams }),
    ),
  );
  assert.equal(err.code, 'E_UNKNOWN_PROMPT');
});
