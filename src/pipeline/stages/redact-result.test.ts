import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretScrubber } from '../../credentials/scrub.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import { UpstreamRpcError } from '../../protocol/errors.ts';
import { redactResult, scrubErrorForCaller, scrubQuestionForCaller } from './redact-result.ts';
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

const GITHUB = `ghp_${'Q7x2Lm9Kp4'.repeat(3)}Zt81Wd`;
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaWduLWluIn0.c2lnbmVkLWJ5LXRoZS1zZXJ2ZXI';
const LINK = `https://auth.example.test/connect?token=${GITHUB}&state=${JWT}`;
const redacting = () => {
  const scrubber = new SecretScrubber();
  scrubber.update([GATEWAY_WIDE]);
  return deps({ credentials: { scrubber } as never, resultSecrets: 'redact' });
};

test('questions: sampling and form elicitation are scrubbed like a result, a schema property called `name` included', () => {
  const ask = scrubQuestionForCaller(answered({}), redacting());
  const sampled = ask('sampling/createMessage', {
    systemPrompt: `you hold ${GITHUB} and ${SECRET}`,
    messages: [{ role: 'user', content: { type: 'text', text: `see ${JWT}` } }],
  });
  assert.deepEqual(sampled, {
    systemPrompt: 'you hold [REDACTED:github-token] and [REDACTED:credential]',
    messages: [{ role: 'user', content: { type: 'text', text: 'see [REDACTED:jwt]' } }],
  });
  const form = ask('elicitation/create', {
    message: `confirm ${GITHUB}`,
    requestedSchema: { type: 'object', properties: { name: { type: 'string', default: GITHUB } } },
  });
  assert.equal(form.message, 'confirm [REDACTED:github-token]');
  assert.deepEqual(form.requestedSchema, {
    type: 'object',
    properties: { name: { type: 'string', default: '[REDACTED:github-token]' } },
  });
});

test("questions: a URL elicitation's link and id keep their formats and lose secret values; its message is scrubbed", () => {
  const ask = scrubQuestionForCaller(answered({}), redacting());
  const params = { mode: 'url', message: `sign in ${GITHUB}`, url: `${LINK}&s=${SECRET}`, elicitationId: JWT };
  assert.deepEqual(ask('elicitation/create', params), {
    mode: 'url',
    message: 'sign in [REDACTED:github-token]',
    url: `${LINK}&s=[REDACTED:credential]`,
    elicitationId: JWT,
  });
  // Another tenant's secret is a secret value too; a question that is no elicitation has no link kept.
  assert.equal(
    ask('elicitation/create', { mode: 'url', url: `${LINK}#${GATEWAY_WIDE}` }).url,
    `${LINK}#[REDACTED:credential]`,
  );
  assert.match(String(ask('sampling/createMessage', { mode: 'url', url: LINK }).url), /REDACTED:github-token/);
  // Only a string is a link: an object under `url` or `elicitationId` is scrubbed as any text.
  const odd = ask('elicitation/create', { mode: 'url', url: { t: GITHUB }, elicitationId: { g: [GITHUB] } });
  assert.deepEqual(odd, {
    mode: 'url',
    url: { t: '[REDACTED:github-token]' },
    elicitationId: { g: ['[REDACTED:github-token]'] },
  });
  // Without `secrets.results: redact`: secret values only, as before.
  const valuesOnly = scrubQuestionForCaller(answered({}), setup());
  assert.deepEqual(valuesOnly('sampling/createMessage', { systemPrompt: `${GITHUB} ${SECRET}` }), {
    systemPrompt: `${GITHUB} [REDACTED:credential]`,
  });
});

test("an input_required result: its requests by the questions' rule (a link intact), keys and requestState as any result", async () => {
  const s = answered({
    resultType: 'input_required',
    inputRequests: {
      sample: { method: 'sampling/createMessage', params: { systemPrompt: `${GITHUB} ${SECRET}`, maxTokens: 5 } },
      link: { method: 'elicitation/create', params: { mode: 'url', message: `go ${GITHUB}`, url: LINK } },
    },
    requestState: `state-${SECRET}`,
  });
  await redactResult(s, redacting());
  assert.deepEqual(s.result, {
    resultType: 'input_required',
    inputRequests: {
      sample: {
        method: 'sampling/createMessage',
        params: { systemPrompt: '[REDACTED:github-token] [REDACTED:credential]', maxTokens: 5 },
      },
      link: { method: 'elicitation/create', params: { mode: 'url', message: 'go [REDACTED:github-token]', url: LINK } },
    },
    requestState: 'state-[REDACTED:credential]',
  });
});

test("a -32042 error: its URL elicitations by the questions' rule (links intact but for secret values), message and the rest of its data as any error", () => {
  const scrub = scrubErrorForCaller(answered({}), redacting());
  const err = new UpstreamRpcError(-32042, `sign in first ${GITHUB}`, {
    elicitations: [{ mode: 'url', elicitationId: JWT, url: `${LINK}&s=${SECRET}`, message: `go ${GITHUB}` }],
    hint: `retry with ${GITHUB}`,
  });
  const out = scrub(err);
  assert.equal(out.rpcCode, -32042);
  assert.equal(out.message, 'sign in first [REDACTED:github-token]');
  assert.deepEqual(out.data, {
    hint: 'retry with [REDACTED:github-token]',
    elicitations: [
      {
        mode: 'url',
        elicitationId: JWT,
        url: `${LINK}&s=[REDACTED:credential]`,
        message: 'go [REDACTED:github-token]',
      },
    ],
  });
  // Any other code, or a -32042 without its list, is scrubbed whole: no link is kept for it.
  for (const other of [
    new UpstreamRpcError(-32603, 'failed', { url: LINK }),
    new UpstreamRpcError(-32042, 'failed', { url: LINK }),
  ])
    assert.match(JSON.stringify(scrub(other).data), /REDACTED:github-token/);
});
