/**
 * Which tenants and principals an incident may name without `unseen`: those the configuration names,
 * an API key holds, or the audit trail has seen; a misspelt one is refused with the name meant, and a
 * tenant admin's "did you mean" never names another tenant's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { openStore } from '../storage/index.ts';
import type { ApiKeyRecord } from '../storage/types.ts';
import type { AuditEvent } from '../model/audit-event.ts';
import { configNames, unknownName } from './known.ts';
import { checkTarget, type IncidentError } from './incident.ts';

const key = (name: string, tenant: string, subject: string | null): ApiKeyRecord => ({
  id: `k_${name}`,
  name,
  hash: name,
  tenant,
  subject,
  roles: [],
  scopes: [],
  createdAt: 0,
  createdBy: 't',
  expiresAt: null,
  lastUsedAt: null,
  revokedAt: null,
  revokedBy: null,
});

const seen = (seq: number, tenant: string, subject: string): AuditEvent => ({
  v: 1,
  id: `s-${seq}`,
  time: new Date().toISOString(),
  stream: 's',
  seq,
  prev: '0'.repeat(64),
  hash: 'h',
  kind: 'call.intent',
  actor: { subject, tenant, via: 'jwt', issuer: 'https://idp.example.com' },
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-known-'));
  writeFileSync(
    join(dir, 'policy.yaml'),
    'rules:\n  - id: r\n    subjects: { tenants: [initech], subjects: [carol] }\n    tools: ["*"]\n    effect: allow\n',
  );
  const file = join(dir, 'gatehouse.yaml');
  const yaml =
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\n` +
    'identity:\n  apiKeys: true\n  defaultTenant: default\n  issuers: [{ issuer: "https://idp.example.com", tenants: [acme, globex] }]\n' +
    'policy: { files: [policy.yaml] }\n' +
    'servers:\n  - { name: gh, transport: stdio, command: /bin/true }\n';
  writeFileSync(file, yaml);
  return parseConfig(yaml, file);
}

test('the configuration names tenants and subjects: issuers, the default tenant, policy rules', () => {
  const names = configNames(setup());
  assert.deepEqual([...names.tenants].sort(), ['acme', 'default', 'globex', 'initech']);
  assert.deepEqual([...names.subjects], ['carol']);
});

test('a tenant or principal named nowhere is refused with the name meant, unless unseen', async () => {
  const config = setup();
  const store = await openStore(config.storage);
  try {
    await store.apiKeys.create(key('svc', 'umbrella', null));
    await store.apiKeys.create(key('dave-laptop', 'acme', 'dave'));
    await store.audit.appendBatch([seen(1, 'hooli', 'erin')]);
    const how = { howToAllow: '--unseen' };
    for (const known of ['acme', 'default', 'initech', 'umbrella', 'hooli'])
      assert.equal(await unknownName(store, config, 'tenant', known, how), undefined, known);
    for (const known of ['carol', 'dave', 'apikey:svc', 'erin'])
      assert.equal(await unknownName(store, config, 'principal', known, how), undefined, known);

    assert.equal(
      await unknownName(store, config, 'tenant', 'acmee', how),
      'no tenant `acmee` is known (named in the configuration, by an API key, or in the audit trail): did you mean `acme`? (a tenant not seen yet: --unseen)',
    );
    assert.match((await unknownName(store, config, 'tenant', 'hoolii', how)) ?? '', /did you mean `hooli`\?/);
    assert.match((await unknownName(store, config, 'principal', 'davve', how)) ?? '', /did you mean `dave`\?/);
    assert.match(
      (await unknownName(store, config, 'principal', 'nobody-at-all', how)) ?? '',
      /^no principal `nobody-at-all` is known .*\(a principal not seen yet: --unseen\)$/,
    );
    assert.equal(await unknownName(store, config, 'tenant', 'newco', { ...how, unseen: true }), undefined);
    // A tenant admin of acme learns no other tenant's name, nor another tenant's people.
    assert.doesNotMatch(
      (await unknownName(store, config, 'tenant', 'globe', { ...how, tenant: 'acme' })) ?? '',
      /globex/,
    );
    assert.doesNotMatch(
      (await unknownName(store, config, 'principal', 'apikey:sv', { ...how, tenant: 'acme' })) ?? '',
      /did you mean/,
    );
    assert.match(
      (await unknownName(store, config, 'principal', 'davve', { ...how, tenant: 'acme' })) ?? '',
      /did you mean `dave`\?/,
    );

    // What the incident and mode commands and the admin API call.
    await assert.rejects(
      checkTarget(store, config, 'tenant', 'defualt', { howToAllowUnseen: '"unseen": true' }),
      (e: IncidentError) =>
        e.code === 'invalid' && /did you mean `default`\? \(a tenant not seen yet: "unseen": true\)/.test(e.message),
    );
    assert.deepEqual(await checkTarget(store, config, 'tenant', 'defualt', { unseen: true, howToAllowUnseen: 'x' }), {
      kind: 'tenant',
      value: 'defualt',
    });
  } finally {
    await store.close();
  }
});
