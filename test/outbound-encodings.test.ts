/**
 * `secret:outbound` and the redaction of results and records read through the simple encodings a
 * caller or an upstream may mix at will (src/audit/decoded-view.ts): two tenants with a canary secret
 * each (test/support/mediation.ts); acme's caller sends globex's secret percent-encoded (any byte,
 * some escaped and some not), `\u`/`\x`-escaped as text, as HTML references, in fullwidth letters,
 * split by a zero-width space, and as UTF-16 hex: each is refused and nothing reaches any upstream
 * process. Before, each of these reached globex's secret's way out. An upstream saying its own secret
 * so is scrubbed from the caller's answer and from the stored records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CANARY, reached, rpc, startMediationGateway, t } from './support/mediation.ts';
import { eventually } from './support/eventually.ts';

startMediationGateway({ audit: '{ arguments: redacted, results: redacted }' });

const bytes = (s: string) => [...Buffer.from(s)];
const hex2 = (b: number) => b.toString(16).padStart(2, '0');
/** Each form of `s` the finder reads through, by name. */
const forms = (s: string): Record<string, string> => ({
  'every byte percent-encoded': bytes(s)
    .map((b) => `%${hex2(b).toUpperCase()}`)
    .join(''),
  'some bytes percent-encoded, mixed case': s.replace(/-/g, '%2D').replace(/a/g, '%61'),
  'percent-encoded twice': s.replace(/-/g, '%252D'),
  '\\u escapes as text': [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
  'some \\u escapes as text': s.replace(/c/g, '\\u0063'),
  '\\x escapes as text': bytes(s)
    .map((b) => `\\x${hex2(b)}`)
    .join(''),
  'HTML references': s.replace(/a/g, '&#97;').replace(/-/g, '&#x2d;'),
  'fullwidth letters': [...s].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''),
  'fullwidth in part, a zero-width space inside': `${s.slice(0, 8)}\u200b${[...s.slice(8)].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('')}`,
  'UTF-16LE hex': Buffer.from(s, 'utf16le').toString('hex'),
  'UTF-16BE hex': Buffer.from(s, 'utf16le').swap16().toString('hex'),
});

test("another tenant's secret in each newly read form is refused (secret:outbound); nothing reaches an upstream", async () => {
  const before = reached().length;
  for (const [name, form] of Object.entries(forms(CANARY.globex))) {
    const r = await rpc('acme', 'tools/call', { name: 'mt__strict', arguments: { repo: `see ${form} end`, n: 1 } });
    assert.match(r.error?.message ?? '', /secret:outbound/, `${name}: ${JSON.stringify(r).slice(0, 300)}`);
    assert.match(r.error?.message ?? '', /injected credential/, name);
  }
  assert.equal(reached().length, before, 'nothing reached an upstream process');
  // The refusals' records keep the arguments, redacted of every form.
  const refused = await eventually(async () => {
    const recs = (await t.gw.store.audit.read({ kind: 'call.refused', tenant: 'acme', limit: 5000 })).map(
      (x) => x.event,
    );
    const mine = recs.filter((x) => JSON.stringify(x).includes('secret:outbound'));
    return mine.length >= Object.keys(forms(CANARY.globex)).length && mine;
  });
  noForm(JSON.stringify(refused), CANARY.globex, 'a refusal record');
  assert.match(JSON.stringify(refused), /see \[REDACTED:secret\] end/, 'the arguments are kept, redacted');
});

/** `stored` (a record's JSON) holds no form of `secret`, as JSON writes it. */
function noForm(stored: string, secret: string, where: string): void {
  for (const [name, form] of Object.entries(forms(secret)))
    assert.ok(!stored.includes(JSON.stringify(form).slice(1, -1)), `${name} in ${where}`);
  assert.ok(!stored.includes(secret), `the secret in ${where}`);
}

test('look-alike texts that hold no secret go through', async () => {
  const before = reached().length;
  const near = `${CANARY.globex.slice(0, -1)}${CANARY.globex.endsWith('0') ? '1' : '0'}`;
  for (const repo of [
    'search?q=100%25%20done&x=%zz',
    'C:\\Users\\ada\\notes \\u00e9t\\u00e9 \\x41',
    '&#169; 2026 &amp; more',
    'ｈｅｌｌｏ　ｗｏｒｌｄ，你好',
    Object.values(forms(near)).join(' '),
  ]) {
    const r = await rpc('acme', 'tools/call', { name: 'mt__strict', arguments: { repo, n: 1 } });
    assert.equal(r.result?.content?.[0]?.text, 'ok', `${repo.slice(0, 40)}: ${JSON.stringify(r).slice(0, 300)}`);
  }
  assert.equal(reached().length, before + 5);
});

test("an upstream saying its own secret in such a form: the caller's answer and the stored records hold none of it", async () => {
  const said = ['percent', 'percent-some', 'u-escaped', 'fullwidth', 'utf16-hex'];
  for (const how of said) {
    const r = await rpc('acme', 'tools/call', { name: 'mt__leak', arguments: { how } });
    assert.equal(r.result?.content?.[0]?.text, 'connected with [REDACTED:credential]', `${how}: ${JSON.stringify(r)}`);
  }
  const records = await eventually(async () => {
    const recs = (await t.gw.store.audit.read({ tenant: 'acme', limit: 5000 })).map((x) => x.event);
    const outcomes = recs.filter((x) => JSON.stringify(x).includes('connected with'));
    return outcomes.length >= said.length && recs;
  });
  const stored = JSON.stringify(records);
  noForm(stored, CANARY.acme, 'a stored record');
  assert.match(stored, /connected with \[REDACTED:(secret|credential)\]/, 'the result is kept, redacted');
});

test('a text that reads as far more once decoded (3 MB of U+FDFA, NFKD: 18 each) is refused as not inspectable, recorded, while another caller is served', async () => {
  const before = reached().length;
  const wide = '\ufdfa'.repeat(999_000);
  const [hostile, other] = await Promise.all([
    rpc('acme', 'tools/call', { name: 'mt__strict', arguments: { repo: `%63anary ${wide}`, n: 1 } }),
    rpc('globex', 'tools/call', { name: 'mt__strict', arguments: { repo: 'plain', n: 1 } }),
  ]);
  const message = hostile.error?.message ?? '';
  assert.match(message, /secret:outbound/, JSON.stringify(hostile).slice(0, 300));
  assert.match(message, /cannot be checked for credentials \(not inspectable: `arguments\.repo`/);
  assert.equal(other.result?.content?.[0]?.text, 'ok', JSON.stringify(other).slice(0, 300));
  const after = reached().slice(before);
  assert.equal(after.filter((r) => r.tenant === 'acme').length, 0, 'nothing of the refused call reached an upstream');
  const served = after.filter((r) => r.tenant === 'globex' && r.msg.method === 'tools/call');
  assert.equal(served.length, 1, 'the other call did');
  const refused = await eventually(async () => {
    const recs = (await t.gw.store.audit.read({ kind: 'call.refused', tenant: 'acme', limit: 5000 })).map((x) =>
      JSON.stringify(x.event),
    );
    return recs.find((x) => x.includes('not inspectable'));
  });
  assert.ok(!refused.includes('\ufdfa'.repeat(8)), 'the record keeps none of the text');
  assert.match(
    refused,
    /"repo":"\[REDACTED:(secret|not-inspectable)\]"/,
    'the arguments are kept, that text redacted whole',
  );
});
