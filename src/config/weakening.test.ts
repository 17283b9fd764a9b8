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

// The attacker walk's findings (HIGH): each weakening it got through, now refused or warned.
writeFileSync(
  join(dir, 'rw.yaml'),
  'rules:\n  - { id: r, classes: [READ], effect: allow }\n  - { id: w, classes: [WRITE], effect: deny }\n',
);
writeFileSync(join(dir, 'all.yaml'), 'rules:\n  - { id: all, classes: [READ, WRITE, DESTRUCTIVE], effect: allow }\n');
writeFileSync(
  join(dir, 'ap.yaml'),
  'rules:\n  - { id: r, classes: [READ], effect: allow }\n  - { id: w, tools: [f__put], effect: approve }\n',
);
writeFileSync(
  join(dir, 'ap-allow.yaml'),
  'rules:\n  - { id: r, classes: [READ], effect: allow }\n  - { id: w, tools: [f__put], effect: allow }\n',
);
writeFileSync(
  join(dir, 'off.yaml'),
  'modes: { tools: { f__get: disabled } }\nrules: [{ id: r, classes: [READ], effect: allow }]\n',
);
writeFileSync(
  join(dir, 'sh-t.yaml'),
  'modes: { gateway: shadow, tenants: { acme: enforce } }\nrules: [{ id: r, classes: [WRITE], effect: allow }]\n',
);
writeFileSync(
  join(dir, 'sh.yaml'),
  'modes: { gateway: shadow }\nrules: [{ id: r, classes: [WRITE], effect: allow }]\n',
);
writeFileSync(join(dir, 'none.yaml'), 'rules: []\n');
const POL = (file: string) => `identity: { apiKeys: true }\npolicy: { files: [${file}] }\n`;
const says = (a: Config, b: Config) => weakenings(a, b).map((w) => `${w.decision} ${w.kind}: ${w.says}`);

test('a policy that allows more is warned, naming per class and tool what widened; a stricter one is not', () => {
  const w = says(load(POL('rw.yaml')), load(POL('all.yaml')));
  assert.equal(w.length, 1, w.join('\n'));
  assert.match(w[0], /^warn policy: policy allows more than it did/);
  assert.match(w[0], /WRITE deny -> allow: any tool/);
  assert.match(w[0], /DESTRUCTIVE deny -> allow: any tool/);
  assert.match(says(load(POL('ap.yaml')), load(POL('ap-allow.yaml')))[0], /WRITE approve -> allow: f__put/);
  assert.match(says(load(POL('off.yaml')), load(POL('p.yaml')))[0], /READ deny -> allow: f__get/);
  assert.deepEqual(found(load(POL('all.yaml')), load(POL('rw.yaml'))), []);
  assert.deepEqual(found(load(POL('p.yaml')), load(POL('none.yaml'))), []);
});

test("a tenant's enforce entry removed under a shadow gateway is warned as that tenant going to shadow", () => {
  const w = says(load(POL('sh-t.yaml')), load(POL('sh.yaml')));
  assert.ok(
    w.some((x) => /warn policy: policy mode of tenant acme -> shadow/.test(x)),
    w.join('\n'),
  );
});

test('limits removed, or a rule of them, is refused; a rule raised is warned', () => {
  const lim = (rule: string) => load(`${FULL}limits: { rules: [${rule}] }\n`);
  const base = '{ id: a, scope: principal, rate: { points: 5, perSeconds: 60 } }';
  assert.deepEqual(found(lim(base), load(FULL)), ['refuse limits']);
  assert.deepEqual(found(lim(base), lim('{ id: b, scope: principal, concurrency: 2 }')), ['refuse limits']);
  assert.deepEqual(found(lim(base), lim('{ id: a, scope: principal, rate: { points: 50, perSeconds: 60 } }')), [
    'warn limits',
  ]);
  assert.deepEqual(found(lim(base), lim('{ id: a, scope: principal, rate: { points: 1, perSeconds: 60 } }')), []);
});

test('inventory accept, audit capture lowered, an export moved: refused', () => {
  assert.deepEqual(found(load(FULL), load(`${FULL}inventory: { newTools: accept }\n`)), ['refuse inventory']);
  assert.deepEqual(found(load(FULL), load(`${FULL}audit: { arguments: none }\n`)), ['refuse audit']);
  assert.deepEqual(found(load(FULL), load(`${FULL}audit: { results: none }\n`)), ['refuse audit']);
  const exp = (url: string) =>
    load(`${FULL}audit: { exports: [{ name: siem, type: http, format: otlp, url: "${url}" }] }\n`);
  assert.deepEqual(found(exp('https://siem.example/v1/logs'), exp('https://evil.example/v1/logs')), ['refuse audit']);
});

test('identity trust widened is refused: keys from another host, algorithms, claims, admin roles, platform issuers', () => {
  const idp = (extra: string, top = '') =>
    load(
      `identity: { ${top}issuers: [{ issuer: "https://idp.example", tenant: acme${extra} }] }\npolicy: { files: [p.yaml] }\n`,
    );
  assert.deepEqual(found(idp(''), idp(', jwksUri: "https://evil.example/jwks"')), ['refuse issuers']);
  assert.deepEqual(found(idp(''), idp(', jwksUri: "https://idp.example/keys"')), []);
  assert.deepEqual(found(idp(''), idp(', algorithms: [RS256, RS512]')), ['refuse issuers']);
  assert.deepEqual(found(idp(''), idp('', 'claims: { tenant: sub }, ')), ['refuse identity']);
  assert.deepEqual(found(idp(''), idp('', 'adminRoles: [everyone], ')), ['refuse identity']);
  const two = (second: string) =>
    load(
      `identity: { issuers: [{ issuer: "https://idp.example", tenant: acme }${second}] }\npolicy: { files: [p.yaml] }\n`,
    );
  // Removed, then added back as platform (two reloads): the second is refused like "made platform".
  assert.deepEqual(found(two(''), two(', { issuer: "https://other.example", platform: true }')), ['refuse issuers']);
  // The same issuer under another spelling, beside the one running, is that issuer made platform.
  assert.deepEqual(found(two(''), two(', { issuer: "https://idp.example/", platform: true }')), ['refuse issuers']);
});

test('a credential that loses {tenant} is refused (one secret for every tenant); another per-tenant secret is warned', () => {
  const cred = (ref: string) =>
    load(
      FULL,
      '',
      `  - { name: f, transport: stdio, command: /bin/true, sandbox: {}, credentials: { env: { TOKEN: "${ref}" } } }\n`,
    );
  assert.deepEqual(found(cred('local:tok-{tenant}'), cred('local:tok-acme')), ['refuse credentials']);
  assert.deepEqual(found(cred('local:tok-{tenant}'), cred('local:key-{tenant}')), ['warn credentials']);
  assert.deepEqual(found(cred('local:tok-{tenant}'), cred('local:tok-{tenant}')), []);
});

test('a sandbox dropped by any spelling is refused: renamed, removed and added back, made http, opened to /', () => {
  const srv = (s: string) => load(FULL, '', `  - ${s}\n`);
  assert.deepEqual(found(load(FULL), srv('{ name: g, transport: stdio, command: /bin/true }')), ['refuse sandbox']);
  const other = '  - { name: o, transport: stdio, command: /bin/false, sandbox: {} }\n';
  assert.deepEqual(
    found(load(FULL, '', other), load(FULL, '', `${other}  - { name: f, transport: stdio, command: /bin/cat }\n`)),
    ['refuse sandbox'],
  );
  assert.deepEqual(found(load(FULL), srv('{ name: f, transport: http, url: "https://up.example/mcp" }')), [
    'refuse sandbox',
    'warn servers',
  ]);
  assert.deepEqual(
    found(load(FULL), srv('{ name: f, transport: stdio, command: /bin/true, sandbox: { paths: { read: [/] } } }')),
    ['refuse sandbox'],
  );
  const w = (p: string) =>
    srv(`{ name: f, transport: stdio, command: /bin/true, sandbox: { paths: { write: [${p}] } } }`);
  assert.deepEqual(found(w('"/data/{tenant}"'), w('/data/shared')), ['refuse sandbox']);
  assert.deepEqual(found(w('"/data/{tenant}"'), w('"/data/{tenant}", "/data/{tenant}/more"')), ['warn sandbox']);
  const plain = (s: string) => load(FULL, '', `  - { name: f, ${s} }\n`);
  assert.deepEqual(
    found(plain('transport: stdio, command: /bin/true'), plain('transport: http, url: "https://up.example/mcp"')),
    ['warn servers', 'warn servers'],
  );
});

test('warned: adminRoles-free edits the guard does not judge itself, approvals raised, unknownTools relaxed', () => {
  assert.deepEqual(found(load(FULL), load(`${FULL}approvals: { maxPendingPerPrincipal: 500 }\n`)), ['warn policy']);
  assert.deepEqual(
    found(
      load('identity: { apiKeys: true }\npolicy: { files: [p.yaml], unknownTools: error }\n'),
      load('identity: { apiKeys: true }\npolicy: { files: [p.yaml], unknownTools: warn }\n'),
    ),
    ['warn policy'],
  );
  // The default: a setting no comparison judges is named at warn level, never applied in silence.
  const w = says(load(FULL), load(FULL, '  allowedHosts: [evil.example]\n'));
  assert.deepEqual(w, ['warn anonymous: gateway.allowedHosts changed (not compared by the reload guard: review it)']);
  const cls = (c: string) =>
    load(
      FULL,
      '',
      `  - { name: f, transport: stdio, command: /bin/true, sandbox: {}, tools: { put: { class: ${c} } } }\n`,
    );
  assert.deepEqual(found(cls('WRITE'), cls('READ')), ['warn servers']);
});

test('an http server moved to another host: refused when it sends credential headers there, else named', () => {
  const http = (url: string, creds = '') => load(FULL, '', `  - { name: h, transport: http, url: "${url}"${creds} }\n`);
  const headers = ', credentials: { headers: { Authorization: "local:h-{tenant}" } }';
  assert.deepEqual(found(http('https://up.example/mcp', headers), http('https://evil.example/mcp', headers)), [
    'refuse credentials',
    'warn servers',
  ]);
  assert.deepEqual(found(http('https://up.example/mcp'), http('https://evil.example/mcp')), ['warn servers']);
});
