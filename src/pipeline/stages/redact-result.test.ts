import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretScrubber } from '../../credentials/scrub.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import { redactResult } from './redact-result.ts';
import { deps, state } from './fakes.test-util.ts';

const SECRET = 'canary-acme-4d1f9e2b7c';
const GATEWAY_WIDE = 'canary-other-8e2a6b4d1f';

function setup() {
  const scrubber = new SecretScrubber();
  scrubber.update([GATEWAY_WIDE]);
  return deps({ credentials: { scrubber } as never });
}

function answered(result: JsonObject, method = 'tools/call', scope = '') {
  const s = state({ method, ctx: { scope } });
  s.route = { server: 'mt', tool: 'leak', def: {}, qualified: 'mt__leak', item: 'leak' };
  s.injected = [SECRET];
  s.result = result;
  return s;
}

const carries = (v: unknown, secret: string) => {
  const text = JSON.stringify(v);
  return [
    secret,
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('hex'),
    secret.slice(0, 11),
    secret.slice(11),
  ].some((x) => text.includes(x));
};

test('the injected secret is removed from the result in every encoding, in values and keys', async () => {
  const s = answered({
    content: [
      { type: 'text', text: `token ${SECRET}` },
      { type: 'text', text: Buffer.from(SECRET).toString('base64') },
      { type: 'text', text: Buffer.from(SECRET).toString('hex') },
    ],
    structuredContent: { [SECRET]: { env: { TOKEN: SECRET } } },
  });
  await redactResult(s, setup());
  assert.ok(!carries(s.result, SECRET), JSON.stringify(s.result));
  assert.match(JSON.stringify(s.result), /\[REDACTED:credential\]/);
});

test('secrets held by other connections are scrubbed too; what is not a secret is kept', async () => {
  const s = answered({
    content: [
      { type: 'text', text: `a ${GATEWAY_WIDE} b` },
      { type: 'text', text: 'plain words' },
    ],
  });
  await redactResult(s, setup());
  assert.ok(!JSON.stringify(s.result).includes(GATEWAY_WIDE));
  assert.equal((s.result!.content as Array<{ text: string }>)[1].text, 'plain words');
});

test('a secret split across content blocks is removed from each part', async () => {
  const cut = 9;
  const s = answered({
    content: [
      { type: 'text', text: `first ${SECRET.slice(0, cut)}` },
      { type: 'text', text: `${SECRET.slice(cut)} rest` },
    ],
  });
  await redactResult(s, setup());
  const texts = (s.result!.content as Array<{ text: string }>).map((c) => c.text);
  assert.ok(!texts.join('').includes(SECRET), texts.join('|'));
  assert.ok(!texts[0].includes(SECRET.slice(0, cut)) && !texts[1].includes(SECRET.slice(cut)), texts.join('|'));
  assert.match(texts[0], /^first /);
  assert.match(texts[1], / rest$/);
});

test('past the depth bound nothing passes through: the rest is withheld, secret or not', async () => {
  let deep: unknown = { secret: SECRET, harmless: 'fine' };
  for (let i = 0; i < 80; i++) deep = { d: deep };
  const s = answered({ content: [{ type: 'text', text: 'ok' }], structuredContent: deep as JsonObject });
  await redactResult(s, setup());
  const text = JSON.stringify(s.result);
  assert.ok(!text.includes(SECRET));
  assert.ok(!text.includes('fine'), 'a deep harmless value is withheld too');
  assert.match(text, /withheld: nested too deeply to check for secrets/);
  assert.equal((s.result!.content as Array<{ text: string }>)[0].text, 'ok');
});

test("on the aggregate endpoint resource URIs in the answer are namespaced; on a per-server endpoint they are the server's own", async () => {
  const read = () => ({ contents: [{ uri: 'secret://token', text: 'x' }] });
  const agg = answered(read(), 'resources/read');
  await redactResult(agg, setup());
  assert.deepEqual(agg.result!.contents, [{ uri: 'gatehouse:mt/secret://token', text: 'x' }]);
  const scoped = answered(read(), 'resources/read', 'mt');
  await redactResult(scoped, setup());
  assert.deepEqual(scoped.result!.contents, [{ uri: 'secret://token', text: 'x' }]);
  const call = answered({
    content: [
      { type: 'resource_link', uri: 'file:///srv/a.txt', name: 'a' },
      { type: 'resource', resource: { uri: 'file:///srv/b.txt', text: SECRET } },
    ],
  });
  await redactResult(call, setup());
  const [link, embedded] = call.result!.content as JsonObject[];
  assert.equal(link.uri, 'gatehouse:mt/file:///srv/a.txt');
  assert.equal((embedded.resource as JsonObject).uri, 'gatehouse:mt/file:///srv/b.txt');
  assert.ok(!carries(call.result, SECRET));
});

test("a task's result is the tool call's result: its resource links are namespaced too", async () => {
  const s = answered({ content: [{ type: 'resource_link', uri: 'file:///srv/a.txt', name: 'a' }] }, 'tasks/result');
  await redactResult(s, setup());
  assert.equal((s.result!.content as JsonObject[])[0].uri, 'gatehouse:mt/file:///srv/a.txt');
});

test('a URI made of a secret is scrubbed before it is namespaced', async () => {
  const s = answered({ contents: [{ uri: `secret://${SECRET}`, text: 'x' }] }, 'resources/read');
  await redactResult(s, setup());
  const uri = (s.result!.contents as JsonObject[])[0].uri as string;
  assert.ok(uri.startsWith('gatehouse:mt/secret://') && !uri.includes(SECRET), uri);
});

test('no result (a halted call) is left alone', async () => {
  const s = answered({});
  s.result = undefined;
  await redactResult(s, setup());
  assert.equal(s.result, undefined);
});

test('well-known secret formats an upstream returns are removed only when configured (`secrets.results: redact`)', async () => {
  const AWS = 'AKIAIOSFODNN7EXAMPLE';
  const result = () => ({ content: [{ type: 'text', text: `found ${AWS} in a file` }] });
  const passed = answered(result());
  await redactResult(passed, setup());
  assert.match(JSON.stringify(passed.result), new RegExp(AWS), 'default: passed as the upstream said it');
  const scrubber = new SecretScrubber();
  const redacted = answered(result());
  await redactResult(redacted, deps({ credentials: { scrubber } as never, resultSecrets: 'redact' }));
  assert.doesNotMatch(JSON.stringify(redacted.result), new RegExp(AWS));
  assert.match(JSON.stringify(redacted.result), /\[REDACTED:aws-access-key\]/);
});
