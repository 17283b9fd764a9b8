import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretScrubber } from '../../credentials/scrub.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { Decision, PipelineDeps } from '../types.ts';
import { inspectArguments } from './inspect-arguments.ts';
import { deps, state, thrown } from './fakes.test-util.ts';

const GLOBEX = 'canary-globex-9b7e3d1a5c';
const AWS = 'AKIAIOSFODNN7EXAMPLE';

function setup(outboundSecrets?: PipelineDeps['outboundSecrets']) {
  const scrubber = new SecretScrubber();
  scrubber.update([GLOBEX]); // every tenant connection's injected values, as the pool keeps them
  return deps({ credentials: { scrubber } as never, outboundSecrets });
}

function call(
  upstream: JsonObject,
  method = 'tools/call',
  decision: Decision = { effect: 'allow', rule: 'r', reasons: ['rule `r` (allow) matched'] },
) {
  const s = state({ method, kind: method === 'prompts/get' ? 'prompt' : 'tool', params: { ...upstream } });
  s.route = { server: 'mt', tool: 'write', def: {}, qualified: 'mt__write', item: 'write' };
  s.upstream = upstream;
  s.decision = decision;
  return s;
}

test('a request carrying nothing secret goes on, its decision untouched', async () => {
  const s = call({ name: 'write', arguments: { path: '/srv/a.txt', content: 'hello; token budget is fine', n: 3 } });
  await inspectArguments(s, setup());
  assert.deepEqual(s.decision, { effect: 'allow', rule: 'r', reasons: ['rule `r` (allow) matched'] });
});

test("another tenant's injected secret on its way out is denied by default, in any encoding, anywhere in what goes upstream", async () => {
  const cases: JsonObject[] = [
    { name: 'write', arguments: { content: `here: ${GLOBEX}` } },
    { name: 'write', arguments: { content: Buffer.from(GLOBEX).toString('base64') } },
    { name: 'write', arguments: { content: Buffer.from(GLOBEX).toString('hex') } },
    { name: 'write', arguments: { content: encodeURIComponent(`x=${GLOBEX}`) } },
    { name: 'write', arguments: { [GLOBEX]: 'as a key' } },
    { name: 'write', arguments: { deep: { er: [{ still: GLOBEX }] } } },
    { name: 'write', arguments: { parts: [GLOBEX.slice(0, 12), GLOBEX.slice(12)] } },
    { name: 'write', arguments: {}, _meta: { note: GLOBEX } },
  ];
  for (const upstream of cases) {
    const err = await thrown(() => inspectArguments(call(upstream), setup()));
    assert.equal(err.code, 'E_POLICY_DENIED', JSON.stringify(upstream));
    assert.deepEqual(err.data, { rule: 'secret:outbound' });
    assert.match(err.message, /injected credential/);
    assert.ok(!err.message.includes(GLOBEX), 'the refusal does not repeat the secret');
  }
});

test('well-known secret formats are denied too, naming the kind', async () => {
  const key = `-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK${'x'.repeat(60)}\n-----END RSA PRIVATE KEY-----`;
  for (const [value, kind] of [
    [AWS, 'aws-access-key'],
    [key, 'private-key'],
    [`ghp_${'a'.repeat(36)}`, 'github-token'],
  ] as const) {
    const err = await thrown(() => inspectArguments(call({ name: 'write', arguments: { content: value } }), setup()));
    assert.equal(err.code, 'E_POLICY_DENIED', kind);
    assert.match(err.message, new RegExp(kind));
  }
});

test('nested past the depth bound cannot be checked, so it is denied', async () => {
  let deep: unknown = 'harmless';
  for (let i = 0; i < 80; i++) deep = { d: deep };
  const err = await thrown(() => inspectArguments(call({ name: 'write', arguments: { deep } as JsonObject }), setup()));
  assert.match(err.message, /nested too deeply to check/);
});

test("`approve` turns a tool call into a wait for a person (the policy's approvers kept); anything else is still denied", async () => {
  const s = call({ name: 'write', arguments: { content: AWS } }, 'tools/call', {
    effect: 'allow',
    rule: 'r',
    reasons: ['matched'],
    approvers: { roles: ['lead'] },
  });
  await inspectArguments(s, setup('approve'));
  assert.deepEqual(
    [s.decision!.effect, s.decision!.rule, s.decision!.approvers],
    ['approval', 'secret:outbound', { roles: ['lead'] }],
  );
  assert.match(s.decision!.reasons.at(-1)!, /carries a credential \(aws-access-key\)/);
  const prompt = call({ name: 'greet', arguments: { name: AWS } }, 'prompts/get');
  assert.equal((await thrown(() => inspectArguments(prompt, setup('approve')))).code, 'E_POLICY_DENIED');
});

test('`allow` lets it through, and shadow runs nothing anyway', async () => {
  const allowed = call({ name: 'write', arguments: { content: GLOBEX } });
  await inspectArguments(allowed, setup('allow'));
  assert.equal(allowed.decision!.effect, 'allow');
  const shadow = call({ name: 'write', arguments: { content: GLOBEX } }, 'tools/call', {
    effect: 'shadow',
    rule: 'mode:shadow',
    reasons: [],
  });
  await inspectArguments(shadow, setup());
  assert.equal(shadow.decision!.effect, 'shadow');
});
