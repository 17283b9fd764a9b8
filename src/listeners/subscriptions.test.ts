/**
 * list_changed fan-out: a listener hears only the types it asked for, once per change, however many
 * times the change is reported (catalogue and inventory; a resource list and its templates); a legacy
 * session's stream hears each type once; a scoped listener hears only its server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Sessions } from '../sessions/sessions.ts';
import { type Principal, principalKey } from '../identity/principal.ts';
import type { GatehouseError } from '../protocol/errors.ts';
import { Subscriptions, type Visibility } from './subscriptions.ts';

/** A response that records the SSE messages written to it. */
function fakeRes(): ServerResponse & { messages: Array<{ method?: string }> } {
  const res = new EventEmitter() as unknown as ServerResponse & { messages: Array<{ method?: string }> };
  res.messages = [];
  Object.assign(res, {
    destroyed: false,
    setHeader() {},
    writeHead() {
      return res;
    },
    flushHeaders() {},
    write(chunk: string) {
      const data = /^data: (.*)$/m.exec(chunk)?.[1];
      if (data) res.messages.push(JSON.parse(data));
      return true;
    },
    end() {},
  });
  return res;
}

const settle = () => new Promise((r) => setTimeout(r, 60));

/** A caller with key `key` (a principal key, or `anonymous`), of the tenant the key names. */
function caller(key: string): Principal {
  const tenant = key.startsWith('[') ? String(JSON.parse(key)[3]) : 'default';
  const subject = key.startsWith('[') ? String(JSON.parse(key)[2]) : 'anonymous';
  return { key, tenant, subject, roles: [], scopes: [] } as unknown as Principal;
}

function listen(
  subs: Subscriptions,
  notifications: Record<string, boolean>,
  scope = '',
  principal: string | null = null,
): ServerResponse & { messages: Array<{ method?: string }> } {
  const res = fakeRes();
  subs.listen(
    res,
    { jsonrpc: '2.0', id: 1, method: 'subscriptions/listen', params: { notifications } },
    scope,
    caller(principal ?? 'anonymous'),
  );
  res.messages.length = 0; // the acknowledgement
  return res;
}

test('each listener hears only what it asked for, once per change', async () => {
  const legacyStream: Array<{ method: string }> = [];
  const sessions = {
    *all() {
      yield {
        stream: { send: (m: { method: string }) => legacyStream.push(m) },
        record: { scope: '' },
        streamOwner: caller('anonymous'),
      };
    },
  } as unknown as Sessions;
  const subs = new Subscriptions(sessions);
  const tools = listen(subs, { toolsListChanged: true });
  const prompts = listen(subs, { promptsListChanged: true });
  const resources = listen(subs, { resourcesListChanged: true });
  const other = listen(subs, { toolsListChanged: true }, 'other');

  // One tools change, reported by the catalogue and again by the inventory.
  subs.listChanged('tools', 'files');
  subs.listChanged('tools', 'files');
  await settle();
  assert.deepEqual(
    tools.messages.map((m) => m.method),
    ['notifications/tools/list_changed'],
  );
  assert.equal(prompts.messages.length, 0, 'prompts listeners hear nothing of tools');
  assert.equal(resources.messages.length, 0);
  assert.equal(other.messages.length, 0, 'a listener scoped to another server hears nothing');
  assert.deepEqual(
    legacyStream.map((m) => m.method),
    ['notifications/tools/list_changed'],
  );

  // Resources and templates of one server change together: one resources notification.
  subs.listChanged('resources', 'files');
  subs.listChanged('resourceTemplates', 'files');
  await settle();
  assert.deepEqual(
    resources.messages.map((m) => m.method),
    ['notifications/resources/list_changed'],
  );
  assert.equal(tools.messages.length, 1);
  assert.equal(prompts.messages.length, 0);

  subs.listChanged('prompts', 'other');
  subs.listChanged('tools', 'other');
  await settle();
  assert.deepEqual(
    prompts.messages.map((m) => m.method),
    ['notifications/prompts/list_changed'],
  );
  assert.deepEqual(
    other.messages.map((m) => m.method),
    ['notifications/tools/list_changed'],
  );
  assert.equal(tools.messages.length, 2);
  subs.close();
});

/** Sessions holding one legacy session of `principal` on the aggregate endpoint, and what its stream heard. */
function oneSession(principal: string): { sessions: Sessions; heard: Array<{ method: string }> } {
  const heard: Array<{ method: string }> = [];
  const sessions = {
    *all() {
      yield {
        stream: { send: (m: { method: string }) => heard.push(m) },
        record: { scope: '', principal },
        streamOwner: caller(principal),
      };
    },
  } as unknown as Sessions;
  return { sessions, heard };
}

test("a server's change is heard only by callers who may see something of it, before or after the change", async () => {
  const alice = principalKey({ via: 'jwt', issuer: 'i', subject: 'alice', tenant: 'acme' });
  const bob = principalKey({ via: 'jwt', issuer: 'i', subject: 'bob', tenant: 'globex' });
  const { sessions, heard: bobsSession } = oneSession(bob);
  const asked: string[] = [];
  // The server lists `kept` now; acme may see its tools, globex only `gone`, which a change removed.
  const visibility: Visibility = {
    listed: () => [{ name: 'kept' }],
    seesAny: (who, server, kind, items) => {
      asked.push(`${who.tenant} ${server} ${kind}`);
      return who.tenant === 'acme' || items.some((i) => i.name === 'gone');
    },
    key: (who) => who.key,
  };
  const subs = new Subscriptions(sessions, undefined, visibility);
  const a = listen(subs, { toolsListChanged: true }, '', alice);
  const b = listen(subs, { toolsListChanged: true }, '', bob);
  // A stream that asked only for prompts costs no test of a tools change.
  listen(
    subs,
    { promptsListChanged: true },
    '',
    principalKey({ via: 'jwt', issuer: 'i', subject: 'eve', tenant: 'initech' }),
  );

  subs.listChanged('tools', 'files', [{ name: 'kept' }]);
  subs.listChanged('tools', 'files', [{ name: 'gone' }]); // gathered with the first: what was listed before it counts
  await settle();
  assert.equal(a.messages.length, 1);
  assert.equal(b.messages.length, 0, 'globex heard of a server it may see nothing of');
  assert.equal(bobsSession.length, 0, "globex's session heard of a server it may see nothing of");
  assert.deepEqual(asked.sort(), ['acme files tools', 'globex files tools'], 'one test per caller and change');

  subs.listChanged('tools', 'files', [{ name: 'gone' }]); // the last item globex could see went away
  await settle();
  assert.equal(b.messages.length, 1);
  assert.equal(bobsSession.length, 1);

  subs.close();
});

test('a change of modes or policy is heard only by callers whose own view changed, on their endpoint', async () => {
  const alice = principalKey({ via: 'jwt', issuer: 'i', subject: 'alice', tenant: 'acme' });
  const carol = principalKey({ via: 'jwt', issuer: 'i', subject: 'carol', tenant: 'acme' });
  const bob = principalKey({ via: 'jwt', issuer: 'i', subject: 'bob', tenant: 'globex' });
  const { sessions, heard: bobsSession } = oneSession(bob);
  // Callers of one tenant share a visibility key here: asked once for both.
  const subs = new Subscriptions(sessions, undefined, {
    listed: () => [],
    seesAny: () => true,
    key: (who) => who.tenant,
  });
  const a = listen(subs, { toolsListChanged: true }, '', alice);
  const c = listen(subs, { toolsListChanged: true }, '', carol);
  const aOnFiles = listen(subs, { toolsListChanged: true }, 'files', alice);
  const b = listen(subs, { toolsListChanged: true, promptsListChanged: true }, '', bob);
  const asked: string[] = [];
  // acme's modes changed: what acme sees on the aggregate endpoint changed, not on `files`.
  subs.viewChanged('tools', (who, scope) => {
    asked.push(`${who.tenant} ${scope}`);
    return who.tenant === 'acme' && scope === '';
  });
  subs.viewChanged('prompts', () => false);
  await settle();
  assert.deepEqual([a.messages.length, c.messages.length, aOnFiles.messages.length], [1, 1, 0]);
  assert.equal(b.messages.length, 0, "globex heard of acme's modes");
  assert.equal(bobsSession.length, 0, "globex's session heard of acme's modes");
  assert.deepEqual(asked.sort(), ['acme ', 'acme files', 'globex '], 'one test per visibility key and endpoint');

  // Two changes gathered: a caller whose view either changed hears once.
  subs.viewChanged('tools', (who) => who.tenant === 'globex');
  subs.viewChanged('tools', () => false);
  await settle();
  assert.deepEqual([a.messages.length, b.messages.length, bobsSession.length], [1, 1, 1]);
  subs.close();
});

test('deciding who hears gives the event loop turns while it runs, not one long stall', async () => {
  const sessions = { *all() {} } as unknown as Sessions;
  let tests = 0;
  const visibility: Visibility = {
    listed: () => [{ name: 'x' }],
    seesAny: () => {
      tests++;
      for (const end = performance.now() + 1; performance.now() < end; ); // a millisecond of policy
      return false;
    },
    key: (who) => who.key,
  };
  const subs = new Subscriptions(sessions, () => ({ perPrincipal: 10, perTenant: 1000 }), visibility);
  for (let i = 0; i < 40; i++)
    listen(
      subs,
      { toolsListChanged: true },
      '',
      principalKey({ via: 'jwt', issuer: 'i', subject: `u${i}`, tenant: 'a' }),
    );
  const seenBetween: number[] = []; // how many tests had run, at each turn of the event loop
  let watching = true;
  const watch = () => {
    seenBetween.push(tests);
    if (watching) setImmediate(watch);
  };
  setImmediate(watch);
  subs.listChanged('tools', 'files');
  // Until every caller was tested (a busy machine gives each turn later: a fixed 150 ms saw 17 of 40).
  for (const end = performance.now() + 10_000; tests < 40 && performance.now() < end; )
    await new Promise((r) => setTimeout(r, 10));
  watching = false;
  assert.equal(tests, 40, 'one test per caller');
  assert.ok(
    seenBetween.some((n) => n > 0 && n < 40),
    'the event loop had no turn between the first and the last visibility test',
  );
  subs.close();
});

test("a change of one owner's own resources reaches that owner's sessions and listen streams only", () => {
  const heard: string[] = [];
  const session = (who: string, principal: string | null, scope = '') => ({
    stream: { send: () => void heard.push(who) },
    record: { scope, principal },
    streamOwner: caller(principal ?? 'anonymous'),
  });
  const alice = principalKey({ via: 'jwt', issuer: 'i', subject: 'alice', tenant: 'acme' });
  const bob = principalKey({ via: 'jwt', issuer: 'i', subject: 'bob', tenant: 'globex' });
  const sessions = {
    *all() {
      yield session('alice-session', alice);
      yield session('bob-session', bob);
      yield session('alice-elsewhere', alice, 'other');
    },
  } as unknown as Sessions;
  const subs = new Subscriptions(sessions);
  const aliceListen = listen(subs, { resourcesListChanged: true }, '', alice);
  const aliceTools = listen(subs, { toolsListChanged: true }, '', alice);
  const bobListen = listen(subs, { resourcesListChanged: true }, '', bob);
  const anonymous = listen(subs, { resourcesListChanged: true }, '', 'anonymous');
  subs.ownListChanged('files', 'acme', 'resources');
  assert.deepEqual(heard, ['alice-session']);
  assert.deepEqual(
    aliceListen.messages.map((m) => m.method),
    ['notifications/resources/list_changed'],
  );
  assert.equal(aliceTools.messages.length, 0, 'a stream that did not ask for resource changes');
  assert.equal(bobListen.messages.length, 0);
  assert.equal(anonymous.messages.length, 0);
  subs.ownListChanged('files', 'acme/bob', 'resources');
  assert.deepEqual(heard, ['alice-session'], 'acme/bob is nobody here');
  subs.ownListChanged('files', 'default', 'resources');
  assert.equal(anonymous.messages.length, 1);
  // Tools (src/pipeline/own-definitions.ts): only the streams that asked for tool changes hear.
  subs.ownListChanged('files', 'acme', 'tools');
  assert.deepEqual(
    aliceTools.messages.map((m) => m.method),
    ['notifications/tools/list_changed'],
  );
  assert.equal(aliceListen.messages.length, 1);
  assert.equal(bobListen.messages.length, 0);
});

test('listen streams are capped per principal and per tenant; a closed one frees its place; the anonymous caller has only its tenant cap', () => {
  const sessions = { *all() {} } as unknown as Sessions;
  const subs = new Subscriptions(sessions, () => ({ perPrincipal: 2, perTenant: 3 }));
  const key = (subject: string, tenant: string) => principalKey({ via: 'jwt', issuer: 'i', subject, tenant });
  const open = (subject: string, tenant: string) => listen(subs, { toolsListChanged: true }, '', key(subject, tenant));
  const refusal = (subject: string, tenant: string) => {
    try {
      open(subject, tenant);
    } catch (err) {
      return err as GatehouseError;
    }
    assert.fail(`${subject}@${tenant} was let in`);
  };
  const first = open('ann', 'acme');
  open('ann', 'acme');
  const mine = refusal('ann', 'acme');
  assert.equal(mine.code, 'E_RATE_LIMITED');
  assert.match(mine.message, /too many open listen streams for you \(at most 2\)/);
  open('art', 'acme');
  const tenant = refusal('amy', 'acme');
  assert.match(tenant.message, /in tenant `acme` \(at most 3\)/);
  open('bob', 'globex'); // another tenant is not affected
  first.emit('close');
  open('amy', 'acme'); // a closed stream frees its place
  for (let i = 0; i < 3; i++) listen(subs, { toolsListChanged: true }, '', 'anonymous');
  assert.throws(() => listen(subs, { toolsListChanged: true }, '', 'anonymous'), /in tenant `default`/);
});

test('what a server says outside any call reaches only callers who may still see it (the server, the resource): walk V F5', () => {
  const heard: Array<[string, string]> = [];
  const alice = principalKey({ via: 'jwt', issuer: 'i', subject: 'alice', tenant: 'acme' });
  const bob = principalKey({ via: 'jwt', issuer: 'i', subject: 'bob', tenant: 'acme' });
  const session = (who: string, principal: string) => ({
    stream: { send: (m: { method: string }) => void heard.push([who, m.method]) },
    record: { scope: '', principal },
    streamOwner: caller(principal),
    logLevel: 'debug',
    subscriptions: new Set(['ev\u0000h://payroll']),
  });
  const sessions = {
    *all() {
      yield session('alice', alice);
      yield session('bob', bob);
      yield session('bob-2', bob);
    },
  } as unknown as Sessions;
  const asked: string[] = [];
  const subs = new Subscriptions(sessions, undefined, undefined, {
    server: (who, server) => {
      asked.push(`${who.subject} ${server}`);
      return who.subject === 'bob';
    },
    resource: (who, _server, uri) => who.subject === 'bob' && uri === 'h://payroll',
    tool: () => true,
  });
  const aliceListen = listen(subs, { resourcesListChanged: true }, '', alice);
  const bobListen = listen(subs, { resourcesListChanged: true }, '', bob);
  subs.logMessage('ev', 'acme', {
    jsonrpc: '2.0',
    method: 'notifications/message',
    params: { level: 'info', data: 'x' },
  });
  assert.deepEqual(heard, [
    ['bob', 'notifications/message'],
    ['bob-2', 'notifications/message'],
  ]);
  assert.deepEqual(asked, ['alice ev', 'bob ev'], 'asked once per visibility key');
  heard.length = 0;
  subs.resourceUpdated('ev', 'acme', {
    jsonrpc: '2.0',
    method: 'notifications/resources/updated',
    params: { uri: 'h://payroll' },
  });
  assert.deepEqual(
    heard.map(([who]) => who),
    ['bob', 'bob-2'],
  );
  heard.length = 0;
  subs.ownListChanged('ev', 'acme', 'resources');
  assert.deepEqual(
    heard.map(([who]) => who),
    ['bob', 'bob-2'],
  );
  assert.equal(aliceListen.messages.length, 0, 'a listen stream of a caller who may not see the server');
  assert.equal(bobListen.messages.length, 1);
  subs.close();
});
