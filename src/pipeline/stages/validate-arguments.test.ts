import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArgumentProblem, SchemaValidators } from '../../policy/arguments.ts';
import type { ServerConfig } from '../../config/schema.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { PipelineDeps, Route } from '../types.ts';
import { validateArguments } from './validate-arguments.ts';
import { deps, policyOf, state, thrown } from './fakes.test-util.ts';

// A real folder with a link inside it that points outside it (realpath: the temp dir may itself be a link).
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-validate-')));
const allowed = join(tmp, 'allowed');
mkdirSync(join(allowed, 'sub'), { recursive: true });
writeFileSync(join(allowed, 'notes.txt'), 'notes');
writeFileSync(join(tmp, 'outside.txt'), 'outside');
mkdirSync(join(tmp, 'elsewhere'));
symlinkSync(join(tmp, 'outside.txt'), join(allowed, 'link.txt'));
symlinkSync(join(tmp, 'elsewhere'), join(allowed, 'dirlink'));
symlinkSync(allowed, join(tmp, 'rootlink'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SCHEMA = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    url: { type: 'string' },
    n: { type: 'integer' },
    opts: { type: 'object', properties: { depth: { type: 'integer' } } },
    list: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: false,
};
const POLICY = policyOf(`
resources:
  - { tool: mt__fetch, resource: { kind: url, arg: url } }
  - { tool: mt__read_file, resource: { kind: path, arg: path } }
  - { tool: mt__confined, resource: { kind: path, arg: path, root: ${JSON.stringify(allowed)} } }
  - { tool: mt__linked_root, resource: { kind: path, arg: path, root: ${JSON.stringify(join(tmp, 'rootlink'))} } }
rules:
  - { id: any, tools: ['*'], effect: allow }
`);

const validators = new SchemaValidators();
const configOf = (transport: 'stdio' | 'http') => (server: string) =>
  ({ name: server, transport }) as Partial<ServerConfig> as ServerConfig;
const d = (over: Partial<PipelineDeps> = {}) =>
  deps({ policy: POLICY, validators, credentials: { configOf: configOf('stdio') } as never, ...over });

function tool(name: string, args: unknown, pin = `pin-${name}`) {
  const params = { name, arguments: args } as JsonObject;
  const s = state({ requested: `mt__${name}`, params });
  s.route = { server: 'mt', tool: name, def: { name, inputSchema: SCHEMA }, qualified: `mt__${name}`, item: name };
  s.upstream = { ...params, name };
  s.toolPin = pin;
  return s;
}

/** A read routed (route made its URI canonical: src/pipeline/resource-uri.ts) to `resource`. */
function resource(uri: string, resource: Route['resource'] = { kind: 'path', value: uri.slice(7) }) {
  const s = state({
    method: 'resources/read',
    kind: 'resource',
    requested: `gatehouse:mt/${uri}`,
    params: { uri: `gatehouse:mt/${uri}` },
  });
  s.route = { server: 'mt', tool: uri, def: {}, qualified: `gatehouse:mt/${uri}`, item: '', resource } satisfies Route;
  s.upstream = { uri };
  return s;
}

test('schema errors are refused naming every failing path, for a tool result; nothing is forwarded', async () => {
  const cases: Array<[unknown, ArgumentProblem[]]> = [
    [{ n: 'x' }, [{ path: 'n', message: 'must be integer' }]],
    [{ opts: { depth: 1.5 } }, [{ path: 'opts.depth', message: 'must be integer' }]],
    [{ list: ['a', 2] }, [{ path: 'list[1]', message: 'must be string' }]],
    [{ nope: 1 }, [{ path: 'nope', message: 'is not an accepted argument' }]],
    // Every problem, not only the first.
    [
      { n: 'x', list: [1, 'a', 2], nope: 1 },
      [
        { path: 'nope', message: 'is not an accepted argument' },
        { path: 'n', message: 'must be integer' },
        { path: 'list[0]', message: 'must be string' },
        { path: 'list[2]', message: 'must be string' },
      ],
    ],
  ];
  for (const [args, problems] of cases) {
    const s = tool('fetch_any', args);
    const before = structuredClone(s.upstream);
    const err = await thrown(() => validateArguments(s, d()));
    assert.equal(err.code, 'E_INVALID_ARGUMENTS', JSON.stringify(args));
    assert.deepEqual(err.data, { problems }, JSON.stringify(args));
    assert.equal(
      err.message,
      `invalid params: the arguments do not match the input schema of \`mt__fetch_any\`: ${problems.map((p) => `\`${p.path}\` ${p.message}`).join('; ')}`,
    );
    assert.deepEqual(s.upstream, before);
    assert.equal(s.outOfBounds, undefined);
  }
  const required = tool('strict', {});
  required.route!.def = {
    inputSchema: { type: 'object', required: ['repo', 'n'], properties: { repo: { type: 'string' } } },
  };
  const err = await thrown(() => validateArguments(required, d()));
  assert.deepEqual(err.data, {
    problems: [
      { path: 'repo', message: 'is required' },
      { path: 'n', message: 'is required' },
    ],
  });
  // A schema the gateway cannot use is not the arguments' fault: invalid params, as before.
  const unusable = tool('broken', {});
  unusable.route!.def = { inputSchema: 'not a schema' };
  const bad = await thrown(() => validateArguments(unusable, d()));
  assert.equal(bad.code, 'E_INVALID_PARAMS');
  assert.match(bad.message, /^invalid params: `\(schema\)` the tool's input schema cannot be used/);
});

test('arguments must be an object (or absent), within the global bounds', async () => {
  for (const args of [[], 'x', 3, null]) {
    const err = await thrown(() => validateArguments(tool('fetch_any', args), d()));
    assert.deepEqual(
      [err.code, err.message],
      ['E_INVALID_PARAMS', 'invalid params: `arguments` must be an object'],
      JSON.stringify(args),
    );
  }
  let deep: unknown = 'x';
  for (let i = 0; i < 40; i++) deep = { a: deep };
  const tooDeep = tool('fetch_any', { opts: deep }, 'pin-deep');
  const err = await thrown(() => validateArguments(tooDeep, d()));
  assert.equal(err.code, 'E_INVALID_PARAMS');
  assert.match(err.message, /nested deeper than/);
  // Marked for the audit, which keeps no copy of arguments past the bounds; a schema failure is not.
  assert.match(tooDeep.outOfBounds ?? '', /^`opts\.a(\.a)+` nested deeper than 32 levels$/);
  const long = tool('fetch_any', { list: new Array(10_001).fill('x') });
  await thrown(() => validateArguments(long, d()));
  assert.equal(long.outOfBounds, '`list` an array longer than 10000 items');
  const wrong = tool('fetch_any', { n: 'x' });
  await thrown(() => validateArguments(wrong, d()));
  assert.equal(wrong.outOfBounds, undefined);
  const absent = tool('fetch_any', undefined);
  await validateArguments(absent, d());
  assert.deepEqual(absent.upstream!.arguments, {});
});

test('a URL argument is judged and forwarded in its canonical form; the other arguments go as sent', async () => {
  const s = tool('fetch', { url: 'https://DOCS.allowed.test:443/a/../../@169.254.169.254/#frag', n: 1 });
  await validateArguments(s, d());
  assert.deepEqual(s.upstream!.arguments, { url: 'https://docs.allowed.test/@169.254.169.254/', n: 1 });
  assert.deepEqual(s.resources, [{ kind: 'url', value: 'https://docs.allowed.test/@169.254.169.254/' }]);
  assert.equal(s.upstream!.name, 'fetch', 'the rest of what goes upstream is kept');
  // What the caller sent is left as it was (the audit's argument hash is over it).
  assert.equal((s.params.arguments as JsonObject).url, 'https://DOCS.allowed.test:443/a/../../@169.254.169.254/#frag');
});

test('URLs no canonical form makes safe are refused by policy, naming the argument', async () => {
  for (const url of [
    'https://user:pw@docs.allowed.test/',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'https://docs.allowed.test/a%2f..%2fb',
    'https://docs.allowed.test/\u200b',
  ]) {
    const s = tool('fetch', { url });
    const err = await thrown(() => validateArguments(s, d()));
    assert.equal(err.code, 'E_POLICY_DENIED', url);
    assert.deepEqual(err.data, { rule: 'resource:refused' });
    assert.equal(s.resources, undefined);
  }
  const missing = await thrown(() => validateArguments(tool('fetch', {}), d()));
  assert.match(missing.message, /missing argument `url`/);
});

test('a path through a symlink out of the folder is judged and forwarded as the real path (local servers)', async () => {
  const s = tool('read_file', { path: join(allowed, 'link.txt') });
  await validateArguments(s, d());
  assert.deepEqual(s.resources, [{ kind: 'path', value: join(tmp, 'outside.txt') }]);
  assert.equal((s.upstream!.arguments as JsonObject).path, join(tmp, 'outside.txt'));
  // A file to be created below a linked folder: the real parent and the new name.
  const created = tool('read_file', { path: join(allowed, 'dirlink', 'new.txt') });
  await validateArguments(created, d());
  assert.equal((created.upstream!.arguments as JsonObject).path, join(tmp, 'elsewhere', 'new.txt'));
  // No link: the path as sent.
  const plain = tool('read_file', { path: join(allowed, 'notes.txt') });
  await validateArguments(plain, d());
  assert.deepEqual(
    [(plain.upstream!.arguments as JsonObject).path, plain.resources],
    [join(allowed, 'notes.txt'), [{ kind: 'path', value: join(allowed, 'notes.txt') }]],
  );
});

test("a remote server's paths are not the gateway's files: not resolved", async () => {
  const s = tool('read_file', { path: join(allowed, 'link.txt') });
  await validateArguments(s, d({ credentials: { configOf: configOf('http') } as never }));
  assert.deepEqual(s.resources, [{ kind: 'path', value: join(allowed, 'link.txt') }]);
});

test('a symlink never takes a path out of its extraction root', async () => {
  const inside = tool('confined', { path: join(allowed, 'notes.txt') });
  await validateArguments(inside, d());
  assert.equal((inside.upstream!.arguments as JsonObject).path, join(allowed, 'notes.txt'));
  for (const path of [join(allowed, 'link.txt'), join(allowed, 'dirlink', 'new.txt')]) {
    const s = tool('confined', { path });
    const err = await thrown(() => validateArguments(s, d()));
    assert.equal(err.code, 'E_POLICY_DENIED', path);
    assert.match(err.message, /is outside/);
    // The path as the caller gave it: where the link points is not the caller's to learn (walk N).
    assert.ok(err.message.includes(`\`${path}\``), err.message);
    assert.ok(!err.message.includes('outside.txt`') && !err.message.includes('elsewhere'), err.message);
    assert.deepEqual(err.data, { rule: 'resource:refused' });
    assert.equal((s.upstream!.arguments as JsonObject).path, path, 'nothing forwarded changed');
  }
  // A root that is itself a link is the folder it points to.
  const viaLinkedRoot = tool('linked_root', { path: join(tmp, 'rootlink', 'notes.txt') });
  await validateArguments(viaLinkedRoot, d());
  assert.equal((viaLinkedRoot.upstream!.arguments as JsonObject).path, join(allowed, 'notes.txt'));
  const out = await thrown(() =>
    validateArguments(tool('linked_root', { path: join(tmp, 'rootlink', 'link.txt') }), d()),
  );
  assert.equal(out.code, 'E_POLICY_DENIED');
  assert.ok(
    out.message.includes(`\`${join(tmp, 'rootlink', 'link.txt')}\` is outside \`${join(tmp, 'rootlink')}\``),
    out.message,
  );
});

test('traversal in any form is refused before anything is resolved: `..`, fullwidth `．．／`, `%2e%2e`, non-canonical paths', async () => {
  for (const path of [
    `${allowed}/../outside.txt`,
    `${allowed}/\uff0e\uff0e\uff0foutside.txt`,
    `${allowed}/%2e%2e/outside.txt`,
    `${allowed}/%252e%252e/outside.txt`,
    `${allowed}//notes.txt`,
    `${allowed}/notes.txt\u200b`,
    'relative/notes.txt',
  ]) {
    const s = tool('read_file', { path });
    const err = await thrown(() => validateArguments(s, d()));
    assert.equal(err.code, 'E_POLICY_DENIED', path);
    assert.deepEqual(err.data, { rule: 'resource:refused' }, path);
    assert.equal((s.upstream!.arguments as JsonObject).path, path, 'nothing forwarded changed');
  }
});

test('without a policy there are no resources: the arguments go as sent, after the schema check', async () => {
  const s = tool('fetch', { url: 'https://DOCS.allowed.test/' });
  await validateArguments(s, d({ policy: undefined }));
  assert.equal((s.upstream!.arguments as JsonObject).url, 'https://DOCS.allowed.test/');
  assert.equal(s.resources, undefined);
});

test('a resource URI: policy judges the canonical resource route made; one that has none is refused naming `uri`', async () => {
  const ok = resource('https://example.com/a/b', { kind: 'url', value: 'https://example.com/a/b' });
  await validateArguments(ok, d());
  assert.deepEqual(
    [ok.upstream!.uri, ok.resources],
    ['https://example.com/a/b', [{ kind: 'url', value: 'https://example.com/a/b' }]],
  );
  const s = resource('secret://a/../b', { refused: 'uri `secret://a/../b` contains a `..` segment' });
  const err = await thrown(() => validateArguments(s, d()));
  assert.deepEqual(
    [err.code, err.message, err.data],
    ['E_INVALID_PARAMS', 'invalid params: uri `secret://a/../b` contains a `..` segment', { path: 'uri' }],
  );
  assert.equal(s.upstream!.uri, 'secret://a/../b', 'nothing forwarded changed');
  assert.equal(s.resources, undefined);
});

test('prompt arguments: an object of strings within bounds', async () => {
  const prompt = (args: unknown) => {
    const s = state({
      method: 'prompts/get',
      kind: 'prompt',
      requested: 'mt__greet',
      params: { name: 'mt__greet', arguments: args as never },
    });
    s.route = { server: 'mt', tool: 'greet', def: {}, qualified: 'mt__greet', item: 'prompt:greet' };
    s.upstream = { name: 'greet', arguments: args as never };
    return s;
  };
  await validateArguments(prompt({ name: 'Ada' }), d());
  await validateArguments(prompt(undefined), d());
  const notString = await thrown(() => validateArguments(prompt({ name: 1 }), d()));
  assert.deepEqual(
    [notString.code, notString.message, notString.data],
    ['E_INVALID_PARAMS', 'invalid params: `arguments.name` must be a string', { path: 'arguments.name' }],
  );
  assert.equal((await thrown(() => validateArguments(prompt(['x']), d()))).code, 'E_INVALID_PARAMS');
  const large = prompt({ a: 'x'.repeat(40_000), b: 'y'.repeat(40_000) });
  const big = await thrown(() => validateArguments(large, d()));
  assert.deepEqual(big.data, { path: 'arguments' });
  assert.equal(large.outOfBounds, '`arguments` are larger than 65536 characters');
});

test('completions: the argument is checked; a template reference is judged by the template, a resource reference by its canonical resource', async () => {
  const completion = (kind: 'prompt' | 'resource', ref: JsonObject, argument: unknown, item: string) => {
    const s = state({
      method: 'completion/complete',
      kind,
      requested: String(ref.name ?? ref.uri),
      params: { ref, argument: argument as never },
    });
    s.route = { server: 'mt', tool: String(ref.name ?? ref.uri), def: {}, qualified: `mt__x`, item };
    s.upstream = { ref, argument: argument as never };
    return s;
  };
  for (const bad of [
    undefined,
    { name: 'a' },
    { name: 1, value: 'a' },
    { name: 'a', value: 'x'.repeat(70_000) },
    { name: 'n'.repeat(300), value: 'a' },
  ]) {
    const err = await thrown(() =>
      validateArguments(completion('prompt', { type: 'ref/prompt', name: 'greet' }, bad, 'prompt:greet'), d()),
    );
    assert.deepEqual(
      [err.code, err.data],
      ['E_INVALID_PARAMS', { path: 'argument' }],
      JSON.stringify(bad)?.slice(0, 40),
    );
  }
  await validateArguments(
    completion('prompt', { type: 'ref/prompt', name: 'greet' }, { name: 'name', value: 'a' }, 'prompt:greet'),
    d(),
  );
  const template = completion(
    'resource',
    { type: 'ref/resource', uri: 'file:///{+path}' },
    { name: 'path', value: 'a' },
    'template:file:///{+path}',
  );
  await validateArguments(template, d());
  assert.deepEqual(
    [template.resources, template.upstream!.ref],
    [undefined, { type: 'ref/resource', uri: 'file:///{+path}' }],
  );
  const listed = completion(
    'resource',
    { type: 'ref/resource', uri: 'https://example.com/x' },
    { name: 'q', value: 'a' },
    'resource:https://example.com/x',
  );
  listed.route!.resource = { kind: 'url', value: 'https://example.com/x' };
  await validateArguments(listed, d());
  assert.deepEqual(listed.resources, [{ kind: 'url', value: 'https://example.com/x' }]);
});

test('a lone UTF-16 surrogate anywhere in the params is invalid params naming where, for every kind; nothing is forwarded', async () => {
  const cases: Array<[ReturnType<typeof tool>, string]> = [
    [tool('fetch_any', { path: 'a\ud800b' }), 'arguments.path'],
    [tool('fetch_any', { list: ['ok', 'x\udc00'] }), 'arguments.list[1]'],
    [tool('fetch_any', { opts: { 'k\udc00': 1 } }), 'arguments.opts["k\\udc00"]'],
    [tool('fetch_any', { '\ud83d': 1 }), 'arguments["\\ud83d"]'],
    [resource('file:///data/a\ud800.txt'), 'uri'],
  ];
  const meta = tool('fetch_any', { path: '/x' });
  (meta.params as JsonObject)._meta = { progressToken: '\udfff' };
  cases.push([meta, '_meta.progressToken']);
  const prompt = state({
    method: 'prompts/get',
    kind: 'prompt',
    requested: 'mt__p',
    params: { name: 'p', arguments: { a: '\ud800' } },
  });
  prompt.route = { server: 'mt', tool: 'p', def: {}, qualified: 'mt__p', item: 'prompt:p' };
  cases.push([prompt, 'arguments.a']);
  for (const [s, path] of cases) {
    const before = structuredClone(s.upstream);
    const err = await thrown(() => validateArguments(s, d()));
    assert.equal(err.code, 'E_INVALID_PARAMS', path);
    assert.equal(
      err.message,
      `invalid params: \`${path}\` holds a lone UTF-16 surrogate (half of a pair): not Unicode text`,
    );
    assert.deepEqual(err.data, { path });
    assert.ok(err.message.isWellFormed(), 'the message itself is Unicode text');
    assert.deepEqual(s.upstream, before);
    // Refused as malformed, not as too large: the audit keeps (a well-formed copy of) the arguments.
    assert.equal(s.outOfBounds, undefined);
  }
  // A pair is text: an emoji passes.
  const pair = tool('fetch_any', { path: '/data/\ud83d\ude00.txt' });
  await validateArguments(pair, d());
});
