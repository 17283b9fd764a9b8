import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '../model/audit-event.ts';
import { recordDetail } from './audit-detail.ts';

const base = { v: 1, id: 'a', time: '2026-12-07T00:00:00.000Z', stream: 's', seq: 1, prev: '', hash: '' } as const;
const record = (e: Partial<AuditEvent>) => ({ ...base, ...e }) as AuditEvent;

test('an egress refusal shows its server, target and reason', () => {
  const e = record({
    kind: 'egress.refused',
    server: 'files',
    outcome: 'refused',
    detail: { tenant: 'acme', target: '169.254.169.254:80', address: '169.254.169.254', reason: 'link-local address' },
  });
  assert.equal(recordDetail(e), 'server=files target=169.254.169.254:80 reason=link-local address');
});

test('an admin action shows the action first, then its plain fields; calls their server, rule and stage', () => {
  const admin = record({
    kind: 'admin.action',
    detail: { action: 'mode.clear', scope: 'tool:s__x', nested: { a: 1 } },
  });
  assert.equal(recordDetail(admin), 'action=mode.clear scope=tool:s__x');
  const refused = record({
    kind: 'call.refused',
    server: 'files',
    method: 'tools/call',
    tool: 'files__write_file',
    stage: 'policy',
    decision: { effect: 'deny', rule: 'default', reasons: [] },
  });
  assert.equal(recordDetail(refused), 'server=files rule=default stage=policy');
  const read = record({ kind: 'call.intent', server: 'files', method: 'resources/read' });
  assert.equal(recordDetail(read), 'server=files method=resources/read');
});

test('the line is bounded, and so is each value', () => {
  const e = record({
    kind: 'egress.refused',
    server: 's',
    detail: { target: `${'x'.repeat(100)}:443`, reason: 'r'.repeat(100) },
  });
  const d = recordDetail(e);
  assert.ok(d.length <= 72, d);
  assert.match(d, /^server=s target=x{39}… reason=r+…$/);
});
