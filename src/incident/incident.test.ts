/**
 * Opening and closing on a real store: the containment per scope (a mode, or a principal revocation),
 * replicas told to re-read at once, the record and its window; scopes checked against the config;
 * a tenant's view; close with and without lifting the containment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { openStore } from '../storage/index.ts';
import {
  checkScope,
  closeIncident,
  getIncident,
  type IncidentError,
  openIncident,
  serverOfTool,
  type Actor,
} from './incident.ts';

test('open, look, close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-incident-'));
  const file = join(dir, 'gatehouse.yaml');
  const yaml = `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\nservers:\n  - { name: gh, transport: stdio, command: /bin/true }\n  - { name: ghx, transport: stdio, command: /bin/true }\n`;
  writeFileSync(file, yaml);
  const config = parseConfig(yaml, file);
  assert.equal(serverOfTool(config, 'ghx__y'), 'ghx');
  assert.equal(serverOfTool(config, 'gh__y'), 'gh');
  assert.equal(serverOfTool(config, 'gh__'), undefined);
  assert.throws(
    () => checkScope(config, 'server', 'nope'),
    (e: IncidentError) => e.code === 'invalid' && /unknown server `nope`/.test(e.message),
  );
  assert.throws(() => checkScope(config, 'tool', 'other__t'), /names no configured server/);
  assert.throws(() => checkScope(config, 'gateway', 'x'), /unknown scope `gateway`/);
  const store = await openStore(config.storage);
  try {
    const said: string[] = [];
    const recorded: string[] = [];
    const actor: Actor = { name: 'oncall', record: async (a) => void recorded.push(a) };
    const announce = async (m: { kind: string }) => void said.push(m.kind);
    const t0 = Date.now();
    const tool = await openIncident(store, actor, {
      title: '  gh misbehaves ',
      scope: checkScope(config, 'tool', 'gh__write'),
      reason: 'r',
      windowStart: t0 - 5000,
      timeoutMs: 0,
      announce,
    });
    assert.equal(tool.incident.title, 'gh misbehaves');
    assert.equal(tool.incident.windowStart, t0 - 5000);
    assert.equal(tool.incident.tenant, null);
    assert.deepEqual(
      (await store.modes.list()).map((m) => [m.scope, m.mode, m.setBy]),
      [['tool:gh__write', 'disabled', 'oncall']],
    );
    assert.match((await store.modes.list())[0].reason, new RegExp(`^incident ${tool.incident.id}: r$`));
    const person = await openIncident(store, actor, {
      title: 't',
      scope: { kind: 'principal', value: 'mallory' },
      reason: 'r',
      timeoutMs: 0,
      announce,
    });
    assert.deepEqual(
      (await store.principalRevocations.list()).map((r) => [r.kind, r.value, r.issuer]),
      [['subject', 'mallory', '']],
    );
    assert.ok(person.incident.windowStart <= person.incident.openedAt - 3_599_000, 'an hour back by default');
    const tenant = await openIncident(store, actor, {
      title: 't',
      scope: { kind: 'tenant', value: 'acme' },
      reason: 'r',
      timeoutMs: 0,
    });
    assert.deepEqual(said, ['modes.changed', 'revocations.changed']);
    assert.deepEqual(recorded, [
      'mode.set',
      'incident.open',
      'principals.revoke',
      'incident.open',
      'mode.set',
      'incident.open',
    ]);
    await assert.rejects(
      openIncident(store, actor, { title: ' ', scope: { kind: 'tenant', value: 'x' }, reason: 'r' }),
      /needs a title/,
    );

    assert.equal((await getIncident(store, tenant.incident.id, 'acme')).id, tenant.incident.id);
    await assert.rejects(getIncident(store, tool.incident.id, 'acme'), (e: IncidentError) => e.code === 'not_found');
    await assert.rejects(getIncident(store, '../../etc'), (e: IncidentError) => e.code === 'not_found');

    said.length = 0;
    const kept = await closeIncident(store, actor, tool.incident.id, { note: 'n', announce });
    assert.equal(kept.status, 'closed');
    assert.deepEqual(kept.actions.at(-1)!.detail, { note: 'n', lifted: [] });
    assert.equal((await store.modes.list()).length, 2, 'the containment stays');
    await assert.rejects(
      closeIncident(store, actor, tool.incident.id, {}),
      (e: IncidentError) => e.code === 'conflict',
    );
    assert.deepEqual(said, [], 'nothing lifted, nothing to announce');
    const lifted = await closeIncident(store, actor, person.incident.id, { lift: true, announce });
    assert.deepEqual(lifted.actions.at(-1)!.detail.lifted, ['subject mallory']);
    assert.deepEqual(await store.principalRevocations.list(), []);
    const liftedMode = await closeIncident(store, actor, tenant.incident.id, { lift: true, announce });
    assert.deepEqual(liftedMode.actions.at(-1)!.detail.lifted, ['tenant:acme']);
    // A lift is announced as its containment was: replicas sharing a Redis re-read at once.
    assert.deepEqual(said, ['revocations.changed', 'modes.changed']);
  } finally {
    await store.close();
  }
});
