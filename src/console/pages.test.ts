import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  approvalsPage,
  auditPage,
  chainPage,
  incidentPage,
  incidentsPage,
  modesPage,
  inventoryPage,
  keysPage,
  loginPage,
  readinessPage,
  runPage,
  type View,
} from './pages.ts';
import { fixtureRequest } from '../approvals/fixtures.test-util.ts';
import type { InventoryRow } from '../inventory/report.ts';
import type { ApiKeyRecord, IncidentRecord } from '../storage/types.ts';
import type { AuditEvent } from '../model/audit-event.ts';

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
    [
      {
        name: row.tool,
        reason: 'new',
        accepted: null,
        current: { d: '\u001b[8mhidden' },
        diff: '+ "\u001b[8mhidden"',
        findings: ['description: <img src=x onerror=alert(1)>'],
      },
    ],
    true,
  );
  assert.doesNotMatch(html, /<script|<img|onerror=alert\(1\)>/i);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /⟨U\+202E⟩/);
  assert.match(html, /⟨U\+001B⟩/);
  assert.match(html, /⟨U\+000A⟩/, 'a reason reads as one line');
  const forms = html.match(/<form method="post"[\s\S]*?<\/form>/g)!;
  assert.ok(forms.length >= 3);
  // A flagged definition's accept shows its findings (escaped) and needs its box ticked.
  const acceptForm = forms.find((f) => f.includes('inventory/accept'))!;
  assert.match(acceptForm, /The poisoning scan flagged this definition/);
  assert.match(acceptForm, /<li>description: &lt;img src=x onerror=alert\(1\)&gt;<\/li>/);
  assert.match(acceptForm, /<input type="checkbox" name="confirmFindings" required>/);
  for (const f of forms) assert.match(f, /name="csrf" value="tok&quot;en"/);
});

test('a tenant admin gets no review forms; a created key is shown once, in that answer only', () => {
  const html = inventoryPage(
    view,
    [],
    [{ name: 's__t', reason: 'new tool', accepted: null, current: {}, diff: '', findings: [] }],
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
  assert.match(
    html,
    /The tool contains characters outside ASCII: look-alikes possible \(each is shown with its code point\)\./,
  );
  const plain = fixtureRequest('files__write_file', { path: '/data/a.txt' }, { resource: 'path:/data/a.txt' });
  assert.doesNotMatch(approvalsPage(view, [plain]), /look-alikes|⟨U\+/);
});

/** A tool name with a Cyrillic і (U+0456) and a zero-width space; a person with a Cyrillic а (U+0430). */
const LOOK_TOOL = 'files__write_fіle\u200B';
const LOOK_PERSON = 'аlice';

/**
 * The name is shown with its code points, and nowhere bare in what a person reads (no look-alike letter
 * without its code point after it). Tags go first: a form's hidden field carries the real name.
 */
function marked(html: string, what: string): void {
  assert.ok(html.includes('files__write_fі⟨U+0456⟩le⟨U+200B⟩'), `${what}: the tool with its code points`);
  const shown = html.replace(/<[^>]*>/g, '').replace(/(і|а)⟨U\+04(56|30)⟩/g, '');
  assert.doesNotMatch(shown, /і|а|\u200B/u, `${what}: nothing bare`);
}

test('every console page shows tool names, targets and people as the approval page does: outside ASCII with code points', () => {
  const e = {
    id: 'r1',
    time: '2026-12-04T00:00:00.000Z',
    kind: 'call.refused',
    stream: 's',
    seq: 1,
    prev: 'p',
    hash: 'h',
    tool: LOOK_TOOL,
    actor: { subject: LOOK_PERSON, tenant: 't1', via: 'api-key', issuer: 'gatehouse' },
    runId: `run-${LOOK_PERSON}`,
    outcome: 'refused',
  } as unknown as AuditEvent;
  const audit = auditPage(view, {}, [{ position: 1, event: e }], undefined);
  marked(audit, 'audit search');
  assert.ok(audit.includes('а⟨U+0430⟩lice@t1') && audit.includes('run-а⟨U+0430⟩lice'), 'the actor and the run');
  const run = runPage(view, `run-${LOOK_PERSON}`, [
    { time: e.time, kind: 'call.refused', id: 'r1', tool: LOOK_TOOL, actor: `${LOOK_PERSON}@t1` },
  ]);
  marked(run, 'run');
  assert.match(run, /<h1>Run run-а⟨U\+0430⟩lice<\/h1>/);
  marked(chainPage(view, { record: e, hashOk: true }), 'chain proof');
  const row: InventoryRow = {
    server: 'files',
    tool: LOOK_TOOL,
    class: 'WRITE',
    review: 'operator',
    proposed: 'WRITE',
    status: 'quarantined',
    reason: 'new',
    pin: '',
    owner: '',
    repository: '',
    location: '',
    environment: '',
    transport: 'stdio',
    scopes: [],
    resources: [],
  };
  marked(
    inventoryPage(
      view,
      [row],
      [{ name: LOOK_TOOL, reason: 'new', accepted: null, current: {}, diff: '', findings: [] }],
      true,
    ),
    'inventory',
  );
  const incident: IncidentRecord = {
    id: 'inc_1',
    title: 'contain',
    scope: { kind: 'tool', value: LOOK_TOOL },
    tenant: null,
    reason: 'why',
    status: 'open',
    openedBy: `${LOOK_PERSON}@t1`,
    openedAt: 0,
    windowStart: 0,
    closedBy: null,
    closedAt: null,
    actions: [{ at: 0, by: `${LOOK_PERSON}@t1`, action: 'contain', detail: {} }],
  };
  marked(incidentsPage({ ...view, platform: true }, [incident]), 'incidents');
  marked(incidentPage({ ...view, platform: true }, incident, true), 'incident');
  marked(
    modesPage(
      { ...view, platform: true },
      [{ scope: `tool:${LOOK_TOOL}`, mode: 'disabled', reason: 'r', setBy: LOOK_PERSON, setAt: 0 }],
      () => true,
    ),
    'modes',
  );
  const key: ApiKeyRecord = {
    id: 'k1',
    name: 'bot',
    hash: 'h',
    tenant: 't1',
    subject: LOOK_PERSON,
    roles: [],
    scopes: [],
    createdAt: 0,
    createdBy: 'x',
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    revokedBy: null,
  };
  assert.ok(keysPage(view, [key]).includes('<td>а⟨U+0430⟩lice</td>'), "a key's person");
});

test('without identity the queue says each request is the viewer own and where it is decided (walk W: the page then refused every one)', () => {
  const r = fixtureRequest('files__write_file', { path: '/data/a.txt' }, { resource: 'path:/data/a.txt' });
  const anonymous = approvalsPage(view, [r], true);
  assert.match(anonymous, /every caller and this console are the same anonymous principal/);
  assert.match(anonymous, /<code>gatehouse approvals approve &lt;id&gt;<\/code>/);
  assert.doesNotMatch(anonymous, /where you read the exact call and its diff and decide/);
  const signedIn = approvalsPage(view, [r]);
  assert.match(signedIn, /where you read the exact call and its diff and decide/);
  assert.doesNotMatch(signedIn, /anonymous principal/);
});
