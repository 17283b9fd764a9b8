/** What a call record keeps of arguments and results: bounded, whatever the caller or upstream sent. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditConfig } from '../config/schema.ts';
import { CallRecorder, type CallFacts } from './calls.ts';

const config = (args: string, results = 'shape') =>
  ({ arguments: args, results, redact: { fields: [], paths: [] } }) as unknown as AuditConfig;

const facts = (args: unknown, more: Partial<CallFacts> = {}): CallFacts => ({
  ctx: {
    requestId: 7,
    traceId: 't',
    principal: { subject: 's', tenant: 'acme', via: 'jwt', issuer: 'i', client: 'c' },
  },
  method: 'tools/call',
  requested: 'files__write',
  params: { arguments: args },
  ...more,
});

const size = (v: unknown) => JSON.stringify(v).length;
const GITHUB = `ghp_${'A1b2C3d4E5'.repeat(3)}123456`;

test('arguments refused for breaking a global bound are kept as a marker with their size: no values, the hash kept', () => {
  const args = { a: new Array(20_000).fill(0), note: 'kept nowhere' };
  const rec = new CallRecorder(config('redacted'));
  const r = rec.refused(facts(args, { outOfBounds: '`a` an array longer than 10000 items' }), 'validate', 'E', 1);
  assert.equal(
    r.args,
    '[WITHHELD: arguments outside the global bounds (`a` an array longer than 10000 items): 40029 characters of JSON]',
  );
  assert.equal(r.withheld, true);
  assert.match(String(r.argsHash), /^sha256:[0-9a-f]{64}$/);
  assert.equal(r.argsHash, rec.refused(facts(args), 'route', 'E', 1).argsHash, 'the same hash as any record of them');
  // The bound names the caller's keys: a secret in one is redacted, and a long one cut.
  const named = rec.refused(
    facts({}, { outOfBounds: `\`${GITHUB}${'k'.repeat(5000)}\` too deep` }),
    'validate',
    'E',
    1,
  );
  assert.doesNotMatch(String(named.args), /ghp_/);
  assert.ok(size(named.args) < 400, String(named.args));
  // `none` keeps nothing, as for any other call.
  assert.equal(
    new CallRecorder(config('none')).refused(facts(args, { outOfBounds: 'x' }), 'validate', 'E', 1).args,
    undefined,
  );
});

test('redacted arguments over the cap are kept as their shape; past that, a marker', () => {
  const rec = new CallRecorder(config('redacted'));
  const small = rec.intent(facts({ path: '/tmp/x', content: 'hello' }));
  assert.deepEqual(small.args, { path: '/tmp/x', content: 'hello' });
  assert.equal(small.withheld, undefined);

  const big = rec.intent(facts({ path: '/tmp/x', content: 'x'.repeat(100_000) }));
  assert.deepEqual(big.args, { path: 'string(6)', content: 'string(100000)' });
  assert.equal(big.withheld, true);

  // Wide enough that even the shape is over the cap.
  const wide = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`${'k'.repeat(200)}${i}`, i]));
  const huge = rec.intent(facts(wide));
  assert.equal(huge.args, '[WITHHELD: arguments larger than 32768 characters of JSON]');
  assert.equal(huge.withheld, true);
  // JSON escapes count: 20,000 control characters are 120,000 characters of JSON.
  assert.equal(rec.intent(facts({ s: '\u0001'.repeat(20_000) })).withheld, true);
  // Near the cap, escapes decide: 6,000 control characters are 36,000 of JSON (over), 5,000 are
  // 30,000 (kept), 10,000 quotes 20,000 (kept), as is what no escape could take over the cap.
  assert.equal(rec.intent(facts({ s: '\u0001'.repeat(6_000) })).withheld, true);
  for (const s of ['\u0001'.repeat(5_000), '"'.repeat(10_000), 'x'.repeat(5_000), 'é'.repeat(5_000)]) {
    const kept = rec.intent(facts({ s }));
    assert.equal(kept.withheld, undefined);
    assert.deepEqual(kept.args, { s });
  }
});

test('a result over the cap is bounded in both modes; every record stays small', () => {
  const result = { content: Array.from({ length: 3000 }, (_, i) => ({ type: 'text', text: `line ${i}` })) };
  for (const mode of ['redacted', 'shape']) {
    const rec = new CallRecorder(config('redacted', mode));
    const r = rec.outcome(facts({}, { result: { content: [{ type: 'text', text: 'ok' }] } }), 'i', 'ok', 1);
    assert.ok(r.result, mode);
    const o = rec.outcome(facts({}, { result }), 'i', 'ok', 1);
    assert.ok(size(o) < 64 * 1024, `${mode}: ${size(o)}`);
    assert.equal(o.withheld, mode === 'redacted' ? true : undefined, mode);
  }
  const shapes = new CallRecorder(config('redacted', 'shape'));
  const wide = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`${'k'.repeat(200)}${i}`, { v: i }]));
  const o = shapes.outcome(facts({}, { result: wide }), 'i', 'ok', 1);
  assert.equal(o.result, '[WITHHELD: result larger than 32768 characters of JSON]');
  assert.equal(o.withheld, true);
});

test('arguments holding a lone surrogate are recorded in every mode: hashed with U+FFFD in its place, and marked', () => {
  const args = JSON.parse('{"note":"a\\ud800b","k\\udc00":["x"]}');
  const mended = { note: 'a\ufffdb', 'k\ufffd': ['x'] };
  for (const mode of ['redacted', 'shape', 'none']) {
    const rec = new CallRecorder(config(mode));
    const refused = rec.refused(facts(args), 'route', 'E_UNKNOWN_TOOL', 1);
    const intent = rec.intent(facts(args));
    const clean = rec.refused(facts(mended), 'route', 'E_UNKNOWN_TOOL', 1);
    assert.equal(refused.argsHash, clean.argsHash, mode);
    assert.equal(intent.argsHash, clean.argsHash, mode);
    assert.deepEqual(refused.detail, { replacedUnpairedSurrogates: true }, mode);
    assert.deepEqual(intent.detail, { replacedUnpairedSurrogates: true }, mode);
    assert.equal(clean.detail, undefined, mode);
  }
});
