/**
 * The weakening comparison on configs read by the real loader: each refused switch, each warned
 * one, what the opt-in accepts, and what is stricter or unchanged (nothing found).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from './load.ts';
import type { Config } from './schema.ts';
import { refusalMessage, unaccepted, weakenings } from './weakening.ts';
import { planReload, reloadLevel } from '../gateway/reload-plan.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-weakening-'));
writeFileSync(join(dir, 'p.yaml'), 'rules: [{ id: r, classes: [READ], effect: allow }]\n');
writeFileSync(
  join(dir, 's.yaml'),
  'modes: { servers: { f: shadow } }\nrules: [{ id: r, classes: [READ], effect: allow }]\n',
);

const SERVER = `  - { name: f, transport: stdio, command: /bin/true, sandbox: { network: none } }\n`;
function load(top: string, gateway = '', servers = SERVER): Config {
  const yaml = `version: 1\ngateway:\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\n${gateway}${top}servers:\n${servers}`;
  return parseConfig(yaml, join(dir, 'gatehouse.yaml'));
}
const FULL = `identity: { apiKeys: true }\npolicy: { files: [p.yaml] }\n`;
const found = (a: Config, b: Config) => weakenings(a, b).map((w) => `${w.decision} ${w.kind}`);

test('the same config, or a stricter one, weakens nothing', () => {
  assert.deepEqual(found(load(FULL), load(FULL)), []);
  assert.deepEqual(found(load(''), load(FULL)), []);
  assert.deepEqual(found(load(FULL, '  trustedProxies: [10.0.0.1]\n'), load(FULL)), []);
  assert.deepEqual(
    found(load(`${FULL}audit: { durability: process-crash }\n`), load(`${FULL}audit: { durability: power-loss }\n`)),
    [],
  );
});

test('identity and policy removed (the minimal file of the walk) are both refused, named', () => {
  const w = weakenings(load(FULL), load(''));
  assert.deepEqual(
    w.map((x) => `${x.decision} ${x.kind}`),
    ['refuse identity', 'refuse policy'],
  );
  const msg = refusalMessage(unaccepted(w, load('')));
  assert.match(msg, /identity removed: callers without a credential would be served from loopback/);
  assert.match(msg, /policy removed: every call would be allowed/);
  assert.match(msg, /restart the gateway with the new file, or add `reloadMayWeaken: \[identity, policy\]`/);
});

test('the new file naming the kinds accepts them, and only them', () => {
  const next = load('', '  reloadMayWeaken: [identity]\n');
  assert.deepEqual(
    unaccepted(weakenings(load(FULL), next), next).map((w) => w.kind),
    ['policy'],
  );
  const both = load('', '  reloadMayWeaken: [identity, policy]\n');
  assert.deepEqual(unaccepted(weakenings(load(FULL), both), both), []);
});

test('each refused switch', () => {
  const cases: [string, Config, Config][] = [
    ['anonymous', load('', '  allowUnauthenticated: never\n'), load('')],
    ['proxies', load(FULL), load(FULL, '  trustedProxies: [10.0.0.1]\n')],
    ['metrics', load(FULL, '  metricsToken: abcdefghijklmnopqrstuvwxyz\n'), load(FULL)],
    ['audit', load(`${FULL}audit: { durability: power-loss }\n`), load(FULL)],
    ['audit', load(FULL), load(`${FULL}audit: { readWhenUnavailable: allow }\n`)],
    ['audit', load(`${FULL}audit: { exports: [{ name: siem, type: file }] }\n`), load(FULL)],
    ['sandbox', load(FULL), load(FULL, '', '  - { name: f, transport: stdio, command: /bin/true }\n')],
    [
      'sandbox',
      load(FULL),
      load(FULL, '', '  - { name: f, transport: stdio, command: /bin/true, sandbox: { network: host } }\n'),
    ],
    ['secrets', load(FULL), load(`${FULL}secrets: { outbound: allow }\n`)],
    ['secrets', load(`${FULL}secrets: { results: redact }\n`), load(FULL)],
    [
      'issuers',
      load('identity: { issuers: [{ issuer: "https://idp.example", tenant: acme }] }\npolicy: { files: [p.yaml] }\n'),
      load('identity: { issuers: [{ issuer: "https://idp.example", platform: true }] }\npolicy: { files: [p.yaml] }\n'),
    ],
  ];
  for (const [kind, a, b] of cases) assert.deepEqual(found(a, b), [`refuse ${kind}`], kind);
});

test('an issuer bound to the same tenants, written otherwise, is no change; one more tenant is refused', () => {
  const issuer = (binding: string) =>
    load(`identity: { issuers: [{ issuer: "https://idp.example", ${binding} }] }\npolicy: { files: [p.yaml] }\n`);
  assert.deepEqual(found(issuer('tenant: acme'), issuer('tenants: [acme]')), []);
  assert.deepEqual(found(issuer('tenants: [acme, globex]'), issuer('tenant: acme')), []);
  assert.deepEqual(found(issuer('tenant: acme'), issuer('tenants: [acme, globex]')), ['refuse issuers']);
  assert.deepEqual(found(issuer('tenants: [acme]'), issuer('algorithms: [ES256]')), ['refuse issuers']);
});

test('warned switches are applied: an issuer added, a server put in shadow, every provider off', () => {
  const issuer = 'identity: { issuers: [{ issuer: "https://idp.example" }] }\npolicy: { files: [p.yaml] }\n';
  assert.deepEqual(
    found(
      load(FULL),
      load(`identity: { apiKeys: true, issuers: [{ issuer: "https://idp.example" }] }\npolicy: { files: [p.yaml] }\n`),
    ),
    ['warn issuers'],
  );
  assert.deepEqual(found(load(FULL), load('identity: { apiKeys: true }\npolicy: { files: [s.yaml] }\n')), [
    'warn policy',
  ]);
  assert.deepEqual(found(load(issuer), load('identity: { apiKeys: false }\npolicy: { files: [p.yaml] }\n')), [
    'warn identity',
  ]);
});

test('a reload plan: refused, or noted against what runs; a note needing a restart or weaker is warn', () => {
  const running = load(FULL);
  assert.throws(() => planReload(running, running.gateway.listen, load('')), /would weaken/);
  const other = parseConfig(
    `version: 1\ngateway:\n  stateDir: ${JSON.stringify(join(dir, 'other'))}\n${FULL}servers:\n${SERVER}`,
    join(dir, 'gatehouse.yaml'),
  );
  const notes = planReload(running, running.gateway.listen, other);
  assert.ok(notes.includes('gateway.stateDir changed: restart the gateway to apply it'), notes.join('; '));
  assert.equal(reloadLevel(notes), 'warn');
  assert.deepEqual(planReload(running, running.gateway.listen, load(FULL)), []);
  assert.equal(reloadLevel(['server `a` added']), 'info');
  const accepted = load('', '  reloadMayWeaken: [identity, policy]\n');
  const n = planReload(running, running.gateway.listen, accepted);
  assert.ok(
    n.some((x) => /^weaker: identity removed.*\(accepted: gateway.reloadMayWeaken\)$/.test(x)),
    n.join('; '),
  );
});
