import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeCompletion } from './route-completion.ts';
import { catalogOf, deps, state, thrown } from './fakes.test-util.ts';

const servers = {
  mt: { prompts: [{ name: 'greet' }], resourceTemplates: [{ uriTemplate: 'file:///{+path}', name: 'files' }] },
};
const complete = (ref: unknown, kind: 'prompt' | 'resource' = 'prompt') =>
  state({
    method: 'completion/complete',
    kind,
    requested: String((ref as { name?: string; uri?: string })?.name ?? (ref as { uri?: string })?.uri ?? ''),
    params: { ref: ref as never, argument: { name: 'name', value: 'a' } },
  });

test('a prompt reference is routed as that prompt; the upstream gets its own name in `ref`', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = complete({ type: 'ref/prompt', name: 'mt__greet' });
  await routeCompletion(s, deps({ catalog, upstreams }));
  assert.deepEqual([s.route!.server, s.route!.qualified, s.route!.item], ['mt', 'mt__greet', 'prompt:greet']);
  assert.deepEqual(s.upstream, { ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'name', value: 'a' } });
});

test('a resource reference is routed as that resource (template); the upstream gets its own URI', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  const s = complete({ type: 'ref/resource', uri: 'gatehouse:mt/file:///{+path}' }, 'resource');
  await routeCompletion(s, deps({ catalog, upstreams }));
  assert.deepEqual(
    [s.route!.server, s.route!.qualified, s.route!.item],
    ['mt', 'gatehouse:mt/file:///{+path}', 'template:file:///{+path}'],
  );
  assert.deepEqual(s.upstream!.ref, { type: 'ref/resource', uri: 'file:///{+path}' });
});

test('a resource reference to a URI is routed by its canonical form, which is what goes in `ref`', async () => {
  const listed = { mt: { resources: [{ uri: 'tenant://a/evil', name: 'evil' }] } };
  const { catalog, upstreams } = await catalogOf(listed);
  const s = complete({ type: 'ref/resource', uri: 'gatehouse:mt/TENANT://a/%65vil' }, 'resource');
  await routeCompletion(s, deps({ catalog, upstreams, credentials: { configOf: () => undefined } as never }));
  assert.deepEqual(
    [s.route!.qualified, s.route!.item, s.upstream!.ref, s.upstream!.uri],
    [
      'gatehouse:mt/tenant://a/evil',
      'resource:tenant://a/evil',
      { type: 'ref/resource', uri: 'tenant://a/evil' },
      undefined,
    ],
  );
});

test('what the caller may not name it cannot complete: an unknown prompt or resource is unknown', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  assert.equal(
    (
      await thrown(() =>
        routeCompletion(complete({ type: 'ref/prompt', name: 'mt__nope' }), deps({ catalog, upstreams })),
      )
    ).code,
    'E_UNKNOWN_PROMPT',
  );
  assert.equal(
    (
      await thrown(() =>
        routeCompletion(
          complete({ type: 'ref/resource', uri: 'file:///{+path}' }, 'resource'),
          deps({ catalog, upstreams }),
        ),
      )
    ).code,
    'E_UNKNOWN_RESOURCE',
  );
});

test('a reference that is neither a prompt nor a resource is invalid params', async () => {
  const { catalog, upstreams } = await catalogOf(servers);
  for (const ref of [
    undefined,
    {},
    { type: 'ref/prompt' },
    { type: 'ref/prompt', name: 7 },
    { type: 'ref/resource', uri: ['x'] },
    { type: 'ref/tool', name: 'mt__greet' },
  ]) {
    const err = await thrown(() => routeCompletion(complete(ref), deps({ catalog, upstreams })));
    assert.equal(err.code, 'E_INVALID_PARAMS', JSON.stringify(ref));
  }
});
