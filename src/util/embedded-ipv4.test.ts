/**
 * Walk S (F9): IPv6 addresses that carry an IPv4 one reach it on a network that translates them
 * (NAT64, SIIT...), so the egress proxy and the config's checks decide them by that IPv4 address:
 * `64:ff9b::a9fe:a9fe` is the metadata service, `[::ffff:0:7f00:1]` loopback. Every form, every class.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddedIpv4 } from './embedded-ipv4.ts';
import { refusedAddress } from './address-kind.ts';
import { canonicalIp, reachesGateway } from './own-listener.ts';
import { vet } from '../sandbox/egress.ts';
import { parseAllow } from './allow-entry.ts';
import { ConfigError, parseConfig } from '../config/load.ts';

/** Each form, spelling the IPv4 address `a.b.c.d` (Teredo: the client's, inverted). */
const FORMS: Record<string, (a: number, b: number, c: number, d: number) => string> = {
  mapped: (a, b, c, d) => `::ffff:${a}.${b}.${c}.${d}`,
  'mapped, hex': (a, b, c, d) => `::ffff:${hex(a, b)}:${hex(c, d)}`,
  'mapped, long': (a, b, c, d) => `0:0:0:0:0:ffff:${hex(a, b)}:${hex(c, d)}`,
  siit: (a, b, c, d) => `::ffff:0:${hex(a, b)}:${hex(c, d)}`,
  'siit, dotted': (a, b, c, d) => `::ffff:0:${a}.${b}.${c}.${d}`,
  compatible: (a, b, c, d) => `::${hex(a, b)}:${hex(c, d)}`,
  nat64: (a, b, c, d) => `64:ff9b::${hex(a, b)}:${hex(c, d)}`,
  'nat64, dotted': (a, b, c, d) => `64:ff9b::${a}.${b}.${c}.${d}`,
  'nat64, long': (a, b, c, d) => `0064:FF9B:0:0:0:0:${hex(a, b)}:${hex(c, d)}`,
  'nat64-local /96': (a, b, c, d) => `64:ff9b:1::${hex(a, b)}:${hex(c, d)}`,
  'nat64-local /48': (a, b, c, d) => `64:ff9b:1:${hex(a, b)}:${c.toString(16)}:${hex(d, 0)}::`,
  '6to4': (a, b, c, d) => `2002:${hex(a, b)}:${hex(c, d)}::1`,
  teredo: (a, b, c, d) => `2001:0:4136:e378:8000:63bf:${hex(a ^ 255, b ^ 255)}:${hex(c ^ 255, d ^ 255)}`,
};
const hex = (x: number, y: number) => ((x << 8) | y).toString(16);

const INTERNAL: Array<[number[], string]> = [
  [[127, 0, 0, 1], 'loopback address'],
  [[169, 254, 169, 254], 'metadata address'],
  [[169, 254, 1, 1], 'link-local address'],
  [[10, 1, 2, 3], 'private address'],
  [[172, 16, 0, 1], 'private address'],
  [[192, 168, 1, 1], 'private address'],
  [[100, 64, 0, 1], 'private address'],
  [[0, 0, 0, 0], 'reserved address'],
];

test('every form carrying an internal IPv4 address is refused as that address is', () => {
  for (const [form, spell] of Object.entries(FORMS))
    for (const [[a, b, c, d], kind] of INTERNAL) {
      const ip = spell(a, b, c, d);
      // ::0.0.0.0 and ::0.0.0.1 are the unspecified and loopback IPv6 addresses, not IPv4-compatible ones.
      if (form === 'compatible' && a === 0) continue;
      assert.equal(refusedAddress(ip), kind, `${form}: ${ip}`);
    }
});

test('the forms found, and the IPv4 address each carries', () => {
  assert.deepEqual(embeddedIpv4('::ffff:0:7f00:1'), { form: 'siit', ipv4: ['127.0.0.1'] });
  assert.deepEqual(embeddedIpv4('[64:ff9b::7f00:1]'), { form: 'nat64', ipv4: ['127.0.0.1'] });
  assert.deepEqual(embeddedIpv4('64:ff9b::a9fe:a9fe'), { form: 'nat64', ipv4: ['169.254.169.254'] });
  assert.deepEqual(embeddedIpv4('::ffff:7f00:1%eth0'), { form: 'mapped', ipv4: ['127.0.0.1'] });
  assert.deepEqual(embeddedIpv4('2002:a00:1::'), { form: '6to4', ipv4: ['10.0.0.1'] });
  assert.deepEqual(embeddedIpv4('2001:0:4136:e378:8000:63bf:80ff:fffe'), { form: 'teredo', ipv4: ['127.0.0.1'] });
  assert.deepEqual(embeddedIpv4('::7f00:1'), { form: 'compatible', ipv4: ['127.0.0.1'] });
  assert.equal(embeddedIpv4('64:ff9b:1::a9fe:a9fe')?.ipv4.includes('169.254.169.254'), true);
  for (const none of ['::', '::1', '127.0.0.1', 'fe80::1', '2606:4700::1111', 'api.example.com', '2001:db8::1'])
    assert.equal(embeddedIpv4(none), undefined, none);
  assert.equal(refusedAddress('::'), 'reserved address');
  assert.equal(refusedAddress('::1'), 'loopback address');
});

test('a public IPv4 address behind a translation: as public as it is, except the deprecated or local forms', () => {
  assert.equal(refusedAddress('::ffff:93.184.215.14'), undefined);
  assert.equal(refusedAddress('::ffff:0:93.184.215.14'), undefined);
  assert.equal(refusedAddress('64:ff9b::93.184.215.14'), undefined, 'DNS64 answers reach public hosts');
  assert.equal(
    refusedAddress('2001:0:4136:e378:8000:63bf:a247:28f1'),
    undefined,
    'a Teredo client at a public address',
  );
  assert.equal(refusedAddress('::93.184.215.14'), 'reserved address', 'IPv4-compatible is deprecated');
  assert.equal(refusedAddress('2002:5db8:d70e::1'), 'reserved address', '6to4 is deprecated');
  assert.equal(refusedAddress('64:ff9b:1::5db8:d70e'), 'reserved address', "a network's own translator");
  assert.equal(refusedAddress('2606:4700::1111'), undefined);
});

test('the gateway in a translated spelling is the gateway: canonicalIp, reachesGateway, vet', async () => {
  const P = 8765;
  const own = { listening: [{ address: '127.0.0.1', port: P }], interfaces: [] };
  for (const [form, spell] of Object.entries(FORMS)) {
    if (form.startsWith('nat64-local')) continue; // where its IPv4 address sits is the network's choice
    const ip = spell(127, 0, 0, 1);
    assert.equal(canonicalIp(ip), '127.0.0.1', `${form}: ${ip}`);
    assert.ok(reachesGateway(ip, P, own.listening, []), `${form}: ${ip}`);
    const v = await vet([parseAllow(`[${ip}]:${P}`)], ip, P, own);
    assert.equal('reason' in v && v.reason, 'gateway address', `${form}: ${ip}`);
  }
});

test('vet: a translated spelling of an internal address is no literal opt-in; the IPv4 address itself still is', async () => {
  for (const [form, spell] of Object.entries(FORMS))
    for (const [[a, b, c, d], kind] of INTERNAL) {
      if (form === 'compatible' && a === 0) continue;
      const ip = spell(a, b, c, d);
      const v = await vet([parseAllow(`[${ip}]:5432`)], ip, 5432);
      assert.equal('reason' in v && v.reason, kind, `${form}: ${ip}`);
    }
  assert.deepEqual(await vet([parseAllow('10.0.0.5:5432')], '10.0.0.5', 5432), { address: '10.0.0.5' });
});

test('config: an allowlist entry in a translated spelling of an internal address is refused at its line, unechoed', () => {
  const entries = ['[::ffff:0:7f00:1]:9', '[64:ff9b::7f00:1]:9', '[64:ff9b::a9fe:a9fe]:80', '[2002:a00:1::]:9'];
  const text =
    'version: 1\nservers:\n  - name: box\n    transport: stdio\n    command: /bin/true\n    sandbox:\n      network:\n        allow:\n' +
    [...entries, '10.0.0.1:9', '[64:ff9b::5db8:d70e]:443'].map((e) => `          - ${JSON.stringify(e)}\n`).join('');
  const err = (() => {
    try {
      parseConfig(text, 'g.yaml');
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof ConfigError, 'refused');
  assert.deepEqual(
    err.issues.map((i) => i.path),
    [0, 1, 2, 3].map((k) => `servers[0].sandbox.network.allow[${k}]`),
  );
  assert.match(
    err.issues[0].message,
    /an IPv6 address that carries an IPv4 one \(SIIT, ::ffff:0:0:0\/96\), a loopback address/,
  );
  assert.match(err.issues[1].message, /NAT64, 64:ff9b::\/96/);
  assert.match(err.issues[2].message, /cloud metadata address/);
  for (const e of ['127.0.0.1', '7f00', 'a9fe', '10.0.0.1']) assert.ok(!err.message.includes(e), `${e} not echoed`);
});
