import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  approvalsPage,
  auditPage,
  inventoryPage,
  keysPage,
  loginPage,
  readinessPage,
  runPage,
  type View,
} from './pages.ts';
import { fixtureRequest } from '../approvals/fixtures.test-util.ts';
import type { InventoryRow } from '../inventory/report.ts';
import type { ApiKeyRecord } from '../storage/types.ts';

const view: View = { who: 'alice', role: 'tenant admin of t1', platform: false, tenant: 't1', csrf: 'tok"en' };

test('no script anywhere, the CSRF token in every form, values escaped and hidden characters made visible', () => {
  const row: InventoryRow = {
    server: 's',
    tool: 's__<img src=x onerror=alert(1)>',
    class: 'WRITE',
    review: 'operator',
    proposed: 'WRITE',
    status: 'quarantined',
    reason: 'changed\u202Eevil\nline',
    pin: '',
    owner: '"team"',
    repository: '',
    location: '',
    environment: '',
    transport: 'stdio',
    scopes: [],
    resources: [],
  };
  const html = inventoryPage(
    { ...view, platform: true },
    [row],
    [{ name: row.tool, reason: 'new', accepted: null, current: { d: '\u001b[8mhidden' }, diff: '+ "\u001b[8mhidden"' }],
    true,
  );
  assert.doesNotMatch(html, /<script|<img|onerror=alert\(1\)>/i);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /⟨U\+202E⟩/);
  assert.match(html, /⟨U\+001B⟩/);
  assert.match(html, /⟨U\+000A⟩/, 'a reason reads as one line');
  const forms = html.match(/<form method="post"[\s\S]*?<\/form>/g)!;
  assert.ok(forms.length >= 3);
  for (const f of forms) assert.match(f, /name="csrf" value="tok&quot;en"/);
});

test('a tenant admin gets no review forms; a created key is shown once, in that answer only', () => {
  const html = inventoryPage(
    view,
    [],
    [{ name: 's__t', reason: 'new tool', accepted: null, current: {}, diff: '' }],
    false,
  );
  assert.doesNotMatch(html, /inventory\/accept/);
  assert.match(html, /A platform admin accepts definitions/);
  const rec: ApiKeyRecord = {
    id: 'k1',
    name: 'bot',
    hash: 'h',
    tenant: 't1',
    subject: null,
    roles: [],
    scopes: [],
    createdAt: 0,
    createdBy: 'x',
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    revokedBy: null,
  };
  assert.match(keysPage(view, [rec], { key: 'ghk_abc', name: 'bot' }), /<code class="secret">ghk_abc<\/code>/);
  assert.doesNotMatch(keysPage(view, [rec]), /ghk_|h<\/td>/);
  assert.match(loginPage([{ label: '<idp>' }]), /Sign in with &lt;idp&gt;/);
});

test('an audit search that stopped before the end says how far it searched and goes on from there, filters kept', () => {
  const filters = { tool: 'srv__rare', outcome: 'error' };
  const stopped = auditPage(view, filters, [], 50_000);
  assert.match(stopped, /No records match up to record #50000/);
  assert.match(stopped, /<a href="\/console\/audit\?tool=srv__rare&amp;outcome=error&amp;after=50000">Search on<\/a>/);
  const done = auditPage(view, filters, [], undefined);
  assert.match(done, /<p>No records match\.<\/p>/);
  assert.doesNotMatch(done, /Search on|Next page/);
});

test("a long run's page links to its later records; the last page does not", () => {
  const entry = { time: '2026-12-04T00:00:00.000Z', kind: 'call.intent', id: 'e1' } as const;
  assert.match(
    runPage(view, 'run/1', [entry], 4200),
    /<a href="\/console\/audit\/runs\/run%2F1\?after=4200">Later records<\/a>/,
  );
  assert.doesNotMatch(runPage(view, 'run/1', [entry]), /Later records/);
});

test("a tenant admin's readiness page says the report is a platform admin's, and shows no item", () => {
  const html = readinessPage(view, undefined, {});
  assert.match(html, /covers the whole gateway, every tenant's activity included: a platform admin reads it/);
  assert.doesNotMatch(html, /<table class="readiness"|Ready|pass/);
});

test('the approvals list shows a look-alike tool or requester with code points, and says look-alikes are possible (walk S, F2)', () => {
  const r = fixtureRequest('files__write_filе', { path: '/data/a.txt' }, { resource: 'path:/data/a.txt' });
  const html = approvalsPage(view, [r]);
  assert.match(html, /<code>files__write_filе⟨U\+0435⟩<\/code>/);
  assert.match(html, /names with characters outside ASCII: look-alikes possible/);
  const plain = fixtureRequest('files__write_file', { path: '/data/a.txt' }, { resource: 'path:/data/a.txt' });
  assert.doesNotMatch(approvalsPage(view, [plain]), /look-alikes|⟨U\+/);
});
