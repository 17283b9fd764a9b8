/**
 * What `incident revoke` takes, per scope, from the config and the window's audit records: a tool's
 * or server's references as configured and `oauth:<server>`; a tenant's expansions, its upstream
 * authorizations and keys (never a reference every tenant shares); a person's own per-user
 * authorizations and keys, nothing shared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { AuditLog } from '../audit/log.ts';
import { openStore } from '../storage/index.ts';
import type { IncidentRecord } from '../storage/types.ts';
import { plan } from './revoke.ts';

const NOW = Date.now();

test('the plan per scope', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-revoke-plan-'));
  const file = join(dir, 'gatehouse.yaml');
  const yaml =
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\nservers:\n` +
    '  - { name: gh, transport: stdio, command: /bin/true, environment: prod, credentials: { env: { TOKEN: "vault://kv/{env}/{tenant}/gh#t", SHARED: "env:SHARED_TOKEN" } } }\n' +
    '  - { name: jira, transport: http, url: "https://jira.example/mcp", oauth: { issuer: "https://as.example", clientId: gh }, credentials: { discoveryTenant: acme } }\n' +
    '  - { name: mine, transport: http, url: "https://mine.example/mcp", oauth: { issuer: "https://as.example", clientId: gh, per: user }, credentials: { discoveryTenant: acme } }\n' +
    '  - { name: idle, transport: stdio, command: /bin/true, credentials: { env: { K: "local:idle-{tenant}" } } }\n';
  writeFileSync(file, yaml);
  const config = parseConfig(yaml, file);
  const store = await openStore(config.storage);
  try {
    const log = new AuditLog(store.audit, 'gw-plan');
    const call = (server: string, tenant: string, subject: string) =>
      log.append({
        kind: 'call.outcome',
        server,
        tool: `${server}__x`,
        outcome: 'ok',
        runId: `run-${subject}`,
        actor: { subject, tenant, via: 'jwt', issuer: 'https://idp' },
      });
    await call('gh', 'acme', 'alice');
    await call('jira', 'acme', 'alice');
    await call('mine', 'acme', 'alice');
    await call('gh', 'globex', 'bob');
    await log.close();
    for (const [name, tenant, subject] of [
      ['acme-bot', 'acme', null],
      ['alice-key', 'acme', 'alice'],
      ['globex-bot', 'globex', null],
    ] as const) {
      await store.apiKeys.create({
        id: `id-${name}`,
        name,
        hash: 'h',
        tenant,
        subject,
        roles: [],
        scopes: [],
        createdAt: NOW,
        createdBy: 't',
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
        revokedBy: null,
      });
    }
    const incident = (kind: IncidentRecord['scope']['kind'], value: string): IncidentRecord => ({
      id: 'inc_000000000000',
      title: 't',
      scope: { kind, value },
      tenant: null,
      reason: 'r',
      status: 'open',
      openedBy: 'x',
      openedAt: NOW,
      windowStart: NOW - 60_000,
      closedBy: null,
      closedAt: null,
      actions: [],
    });
    const refs = (p: Awaited<ReturnType<typeof plan>>) => p.refs.map((r) => r.ref);

    const server = await plan(store, config, incident('server', 'gh'));
    assert.deepEqual(server.servers, ['gh']);
    assert.deepEqual(refs(server), ['vault://kv/{env}/{tenant}/gh#t', 'env:SHARED_TOKEN']);
    assert.deepEqual([server.apiKeys, server.sessions], [[], undefined]);
    assert.deepEqual(refs(await plan(store, config, incident('tool', 'jira__x'))), ['oauth:jira']);

    const tenant = await plan(store, config, incident('tenant', 'acme'));
    assert.deepEqual(tenant.servers, ['gh', 'jira', 'mine'], 'the servers the tenant used, not idle');
    assert.deepEqual(refs(tenant), ['vault://kv/prod/acme/gh#t', 'oauth:jira:acme', 'oauth:mine:acme']);
    assert.deepEqual(
      tenant.skipped.map((s) => s.ref),
      ['env:SHARED_TOKEN'],
      'a reference every tenant shares is left',
    );
    assert.deepEqual(
      tenant.apiKeys.map((k) => k.name),
      ['acme-bot', 'alice-key'],
    );
    assert.deepEqual(tenant.sessions, { tenant: 'acme' });

    const person = await plan(store, config, incident('principal', 'alice'));
    assert.deepEqual(refs(person), ['oauth:mine:acme/alice'], 'only their own authorization');
    assert.deepEqual(
      person.apiKeys.map((k) => k.name),
      ['alice-key'],
    );
    assert.deepEqual(person.sessions, { subject: 'alice' });
    assert.ok(person.skipped.every((s) => /never saw it/.test(s.why)));
  } finally {
    await store.close();
  }
});
