/**
 * Bad input is exit 2 and says so, and a step that did nothing says that too (walk L), on a store
 * without a gateway (the CLI works on the store directly): a key that would be born expired, an
 * export into a folder that has files, a search for a kind of record that does not exist; `incident
 * notify` with nobody to tell warns (exit 0); `mode clear --reason` is recorded like `mode set`'s.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { runCli } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { loadConfig } from '../src/config/load.ts';
import { openStore } from '../src/storage/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-inputs-'));
const file = join(dir, 'gatehouse.yaml');
const cli = (...args: string[]) => runCli([...args, '-c', file]);
let incident: string;

before(async () => {
  writeFileSync(
    file,
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\n` +
      'identity: { apiKeys: true }\nservers:\n  - { name: s, transport: stdio, command: /bin/true }\n',
  );
  const opened = await cli('incident', 'open', '--title', 't', '--server', 's', '--reason', 'r', '--json');
  assert.equal(opened.code, 0, opened.stderr);
  incident = (JSON.parse(opened.stdout) as { incident: { id: string } }).incident.id;
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a key that would be expired as it is made is refused', async () => {
  for (const e of ['0d', '0h', '0m']) {
    const r = await cli('keys', 'create', '-n', `k${e}`, '-t', 'acme', '-e', e);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, new RegExp(`\`--expires ${e}\` would make a key that has already expired`));
  }
  const listed = await cli('keys', 'list', '--json');
  assert.doesNotMatch(listed.stdout, /k0[dhm]/, 'no key was made');
  assert.equal((await cli('keys', 'create', '-n', 'k1m', '-t', 'acme', '-e', '1m')).code, 0);
});

test('no key acts for the subject of callers without a credential (walk O): revoking `anonymous` never means a person too', async () => {
  for (const person of ['anonymous', 'local']) {
    const r = await cli('keys', 'create', '-n', `k-${person}`, '-t', 'acme', '-p', person);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, new RegExp(`\`--person ${person}\` is the subject of callers without a credential`));
  }
});

test("no key's person reads as a service key's: `apikey:` in any case or after spaces is refused as the console refuses it (walk S, F7)", async () => {
  for (const person of [' apikey:svc', 'APIKEY:svc', 'apikey:svc', '\u200bapikey:svc', 'ＡＰＩＫＥＹ：svc']) {
    const r = await cli('keys', 'create', '-n', 'k-lookalike', '-t', 'acme', '-p', person);
    assert.equal(r.code, 2, `${JSON.stringify(person)}: ${r.stdout}`);
    assert.match(r.stderr, /`--person .*` (is written like a service key's subject|contains control or invisible)/);
  }
  const trimmed = await cli('keys', 'create', '-n', 'k-trimmed', '-t', 'acme', '-p', '  dave  ', '--json');
  assert.equal(trimmed.code, 0, trimmed.stderr);
  const listed = JSON.parse((await cli('keys', 'list', '--json')).stdout) as {
    keys: { name: string; person: string | null }[];
  };
  assert.deepEqual(
    listed.keys.filter((k) => k.name.startsWith('k-')).map((k) => [k.name, k.person]),
    [['k-trimmed', 'dave']],
  );
});

test('an export into a folder that has files is bad input (exit 2)', async () => {
  const out = join(dir, 'full');
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'x');
  const r = await cli('incident', 'export', incident, '--out', out);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /is not empty: export into a new directory/);
});

test('incident export says on stderr where it stands (a window holds up to 500,000 records), as audit export does; --json stays clean', async () => {
  const text = await cli('incident', 'export', incident, '--out', join(dir, 'bundle-progress'));
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stderr, /^read \d+ audit record\(s\) of the window$/m);
  assert.match(text.stdout, /^wrote .*bundle-progress: \d+ audit record\(s\)/m);
  const json = await cli('incident', 'export', incident, '--out', join(dir, 'bundle-progress-json'), '--json');
  assert.equal(json.code, 0, json.stderr);
  assert.equal(json.stderr, '');
});

test('notify with no owner to tell exits 0 with a warning on stderr, and in --json a field', async () => {
  const text = await cli('incident', 'notify', incident);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stderr, /^warning: no owner to notify: set servers\[\]\.owner .* for s\n$/);
  const json = await cli('incident', 'notify', incident, '--json');
  assert.equal(json.code, 0, json.stderr);
  assert.match((JSON.parse(json.stdout) as { warning: string }).warning, /^no owner to notify/);
  assert.match(json.stderr, /^warning: no owner to notify/);
});

test('every command whose action is recorded takes --reason and records it (operator walk F11): principals restore, keys revoke, secrets delete, upstream forget', async () => {
  const state = join(dir, 'state');
  await (await localSecrets(state)).set('to-delete', 'x');
  const store = await openStore((await loadConfig(file)).storage);
  await store.upstreamTokens.put('s', 'acme', 'sealed', Date.now()).finally(() => store.close());
  assert.equal((await cli('principals', 'revoke', '--subject', 'carol', '--unseen', '--reason', 'r')).code, 0);
  assert.equal((await cli('keys', 'create', '-n', 'k-reason', '-t', 'acme', '--reason', 'for the drill')).code, 0);
  const steps: Array<[string[], string]> = [
    [['principals', 'restore', '--subject', 'carol', '--reason', 'cleared by security'], 'principals.restore'],
    [['keys', 'revoke', 'k-reason', '--reason', 'left the team'], 'keys.revoke'],
    [['secrets', 'delete', 'to-delete', '--reason', 'replaced by vault'], 'secrets.delete'],
    [['upstream', 'forget', 's', '-t', 'acme', '--reason', 'tenant offboarded'], 'upstream.forget'],
  ];
  for (const [args] of steps) {
    const r = await cli(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const found = JSON.parse(
    (await cli('audit', 'search', '--kind', 'admin.action', '--limit', '1000', '--json')).stdout,
  ) as {
    records: Array<{ detail?: { action?: string; reason?: string } }>;
  };
  for (const [args, action] of steps)
    assert.ok(
      found.records.some((e) => e.detail?.action === action && e.detail.reason === args[args.indexOf('--reason') + 1]),
      action,
    );
  const created = found.records.find((e) => e.detail?.action === 'keys.create' && e.detail.reason);
  assert.equal(created?.detail?.reason, 'for the drill');
});

test('mode clear takes --reason, recorded like mode set', async () => {
  assert.equal((await cli('mode', 'set', 'read_only', '--tool', 's__x', '--allow-unknown', '--reason', 'r')).code, 0);
  const r = await cli('mode', 'clear', '--tool', 's__x', '--reason', 'all clear');
  assert.equal(r.code, 0, r.stderr);
  const found = await cli('audit', 'search', '--kind', 'admin.action', '--json');
  const records = (JSON.parse(found.stdout) as { records: Array<{ detail?: Record<string, unknown> }> }).records;
  assert.ok(
    records.some((x) => x.detail?.action === 'mode.clear' && x.detail.reason === 'all clear'),
    JSON.stringify(records.map((x) => x.detail)),
  );
  // The table shows what each action was, not only that there was one.
  const table = await cli('audit', 'search', '--kind', 'admin.action');
  assert.match(table.stdout, /^TIME +EVENT +TOOL +ACTOR +OUTCOME +DETAIL +ID +RUN\n/);
  assert.match(table.stdout, /admin\.action .*action=mode\.clear .*reason=all clear/);
});

test('audit search refuses a kind of record that does not exist, with the one meant', async () => {
  const r = await cli('audit', 'search', '--kind', 'egres.refused');
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /unknown record kind `egres\.refused`: did you mean `egress\.refused`\?/);
  assert.equal(r.stdout, '');
  assert.equal((await cli('audit', 'search', '--kind', 'egress.refused')).code, 0);
});

test('with --json anywhere, a usage error is JSON on stdout too, exit 2, and no text on stderr', async () => {
  for (const args of [
    ['keys', 'list', '--json', '--bogus'],
    ['approvals', 'show', '--json'],
    ['bogus', '--json'],
  ]) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', args.join(' '));
    const out = JSON.parse(r.stdout) as { error: string; exitCode: number };
    assert.equal(out.exitCode, 2);
    assert.match(out.error, /unknown option '--bogus'|missing required argument 'id'|unknown command 'bogus'/);
  }
  // An option given one of the command's flags as its value (the value left out) is a usage error,
  // JSON since --json is on the command line, not a search for the kind `--json` (walk F7).
  const taken = await cli('audit', 'search', '--kind', '--json');
  assert.equal(taken.code, 2, taken.stderr);
  assert.equal(taken.stderr, '');
  assert.deepEqual(JSON.parse(taken.stdout), {
    error:
      "option '--kind <kind>' argument missing: `--json` is an option of this command, not a value (to give it as the value, write --kind=--json)",
    exitCode: 2,
  });
  // `--kind=--json` gives that value on purpose: the command itself then says there is no such kind.
  const kept = await cli('audit', 'search', '--kind=--json', '--json');
  assert.equal(kept.code, 2);
  assert.equal(kept.stderr, '');
  assert.match(JSON.parse(kept.stdout).error, /unknown record kind `--json`/);
  // Without --json the same mistake is commander's text on stderr, as before.
  const text = await cli('keys', 'list', '--bogus');
  assert.equal(text.code, 2);
  assert.equal(text.stdout, '');
  assert.match(text.stderr, /^error: unknown option '--bogus'/);
});

test('incident verify: a path that is no readable folder is bad input (exit 2); a folder that is no bundle fails (exit 1)', async () => {
  const missing = join(dir, 'no-such-bundle');
  const gone = await runCli(['incident', 'verify', missing]);
  assert.equal(gone.code, 2, gone.stdout);
  assert.equal(gone.stdout, '');
  assert.match(
    gone.stderr,
    new RegExp(`no such folder \`${missing}\`: give the folder \`gatehouse incident export\` wrote`),
  );
  const asJson = await runCli(['incident', 'verify', missing, '--json']);
  assert.equal(asJson.code, 2);
  assert.equal(asJson.stderr, '');
  assert.equal(JSON.parse(asJson.stdout).exitCode, 2);
  const notFolder = await runCli(['incident', 'verify', file]);
  assert.equal(notFolder.code, 2);
  assert.match(notFolder.stderr, /is not a folder/);
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o000 });
    const r = await runCli(['incident', 'verify', locked]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /the folder `.*locked` cannot be read \(EACCES\)/);
  }
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const notBundle = await runCli(['incident', 'verify', empty]);
  assert.equal(notBundle.code, 1, 'a folder that does not verify is a failure, not bad input');
  assert.match(notBundle.stdout, /FAIL manifest\.json: missing: .* is not an evidence bundle/);
});

test('notify says on stderr where each delivery stands while it is retried (walk W: 9 s of silence), and --json stays clean', async () => {
  const owned = join(dir, 'owned.yaml');
  writeFileSync(
    owned,
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\n` +
      'identity: { apiKeys: true }\nservers:\n  - { name: s, transport: stdio, command: /bin/true, owner: owner@example.com }\n',
  );
  // A port nobody listens on: every attempt is refused at once.
  const closed = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
  const args = ['incident', 'notify', incident, '--smtp', `smtp://127.0.0.1:${closed}`, '--attempts', '2', '-c', owned];
  const text = await runCli(args);
  assert.equal(text.code, 1, text.stderr);
  // In a pipe (not a terminal) every attempt and every failure is a line of its own, none thinned
  // away by the once-a-second limit counters have (operator walk F8: attempt 2 and the failures were).
  const to = 'email to owner@example\\.com \\(s\\)';
  assert.match(
    text.stderr,
    new RegExp(
      `^${to}: attempt 1 of 2\n${to}: attempt 1 of 2 failed \\(.*ECONNREFUSED.*\\); next in 0\\.5 s\n${to}: attempt 2 of 2\n`,
    ),
  );
  assert.match(text.stdout, /^FAILED email to owner@example\.com \(s\) after 2 attempt\(s\)/m);
  // The incident's own log says why, not only that it failed.
  const status = JSON.parse((await runCli(['incident', 'status', incident, '--json', '-c', owned])).stdout) as {
    actions: Array<{ action: string; detail: { deliveries?: Array<{ ok: boolean; error?: string }> } }>;
  };
  const notified = status.actions.findLast((a) => a.action === 'notified');
  assert.equal(notified?.detail.deliveries?.[0].ok, false);
  assert.match(notified?.detail.deliveries?.[0].error ?? '', /ECONNREFUSED/);
  const json = await runCli([...args, '--json']);
  assert.equal(json.code, 1);
  assert.doesNotMatch(json.stderr, /attempt/);
  assert.equal((JSON.parse(json.stdout) as { deliveries: Array<{ ok: boolean }> }).deliveries[0].ok, false);
});

test('incident status says each action in words, moments as ISO 8601 as --json does, not raw JSON in epoch milliseconds (operator walk F10)', async () => {
  const r = await cli('incident', 'status', incident);
  assert.equal(r.code, 0, r.stderr);
  const contained = r.stdout.split('\n').find((l) => /^ {4}\S+ {2}contained /.test(l)) ?? '';
  assert.match(contained, /by \S+ {2}kind: mode; target: server:s=disabled; at: \d{4}-\d\d-\d\dT[\d:.]+Z; /);
  assert.doesNotMatch(r.stdout, /[{}"]|\b\d{13}\b/);
});

test('principals revoke refuses a subject the gateway has never seen, with "did you mean", as incident open does; --unseen revokes one ahead of time', async () => {
  assert.equal((await cli('keys', 'create', '-n', 'k-alice', '-t', 'acme', '-p', 'alice')).code, 0);
  const typo = await cli('principals', 'revoke', '--subject', 'alcie', '--reason', 'typo');
  assert.equal(typo.code, 2, typo.stdout);
  assert.equal(
    typo.stderr,
    'gatehouse: no principal `alcie` is known (named in the configuration, by an API key, or in the audit trail): did you mean `alice`? (a principal not seen yet: --unseen)\n',
  );
  const incident = await cli('incident', 'open', '--title', 't', '--principal', 'alcie', '--reason', 'r');
  assert.equal(incident.code, 2, 'incident open refuses it the same way');
  assert.equal(incident.stderr, typo.stderr);
  assert.deepEqual(JSON.parse((await cli('principals', 'list', '--json')).stdout).revoked, [], 'nothing was revoked');
  const known = await cli('principals', 'revoke', '--subject', 'alice', '--reason', 'left');
  assert.equal(known.code, 0, known.stderr);
  const ahead = await cli('principals', 'revoke', '--subject', 'newcomer', '--reason', 'never to call', '--unseen');
  assert.equal(ahead.code, 0, ahead.stderr);
  assert.match(ahead.stdout, /^subject newcomer revoked for every issuer/);
  const listed = JSON.parse((await cli('principals', 'list', '--json')).stdout).revoked as { value: string }[];
  assert.deepEqual(listed.map((r) => r.value).sort(), ['alice', 'newcomer']);
});

test('audit search takes only an outcome there is, and a range that ends before it starts is refused; an empty export says so (operator walk)', async () => {
  const outcome = await cli('audit', 'search', '--outcome', 'whatever');
  assert.equal(outcome.code, 2, outcome.stdout);
  assert.match(outcome.stderr, /argument 'whatever' is invalid\. Allowed choices are ok, tool_error, error, refused/);
  assert.equal((await cli('audit', 'search', '--outcome', 'refused')).code, 0);
  for (const cmd of ['search', 'export']) {
    const r = await cli('audit', cmd, '--since', '1h', '--until', '2h');
    assert.equal(r.code, 2, `${cmd}: ${r.stdout}`);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^gatehouse: `--since 1h` \(.*Z\) is after `--until 2h` \(.*Z\): the range holds nothing; the earlier time is --since/,
    );
  }
  const empty = await cli('audit', 'export', '--since', '2000-01-01T00:00:00Z', '--until', '2000-01-02T00:00:00Z');
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, '');
  assert.equal(empty.stderr, 'exported 0 records\n');
});

test('keys list shows the person each key acts for and its scopes; credentials restore records its --reason; a CLI actor reads as one (operator walk)', async () => {
  assert.equal(
    (await cli('keys', 'create', '-n', 'k-bob', '-t', 'acme', '-p', 'bob', '-s', 'mcp:tools,mcp:read')).code,
    0,
  );
  assert.equal((await cli('keys', 'create', '-n', 'k-svc', '-t', 'acme', '-s', 'mcp:tools')).code, 0);
  const table = (await cli('keys', 'list')).stdout.split('\n');
  assert.match(table[0], /^ID +NAME +TENANT +PERSON +ROLES +SCOPES +STATE +EXPIRES +LAST USED$/);
  assert.match(table.find((l) => /\bk-bob\b/.test(l)) ?? '', /\bacme +bob +mcp:tools mcp:read +active/);
  assert.match(table.find((l) => /\bk-svc\b/.test(l)) ?? '', /\bacme +\(service key\) +.*mcp:tools +active/);

  const ref = 'env:GATEHOUSE_TEST_RESTORE';
  const revoked = await cli('credentials', 'revoke', ref, '--reason', 'leaked', '--allow-unknown', '--by', 'carol');
  assert.equal(revoked.code, 0, revoked.stderr);
  const restored = await cli('credentials', 'restore', ref, '--reason', 'rotated at the provider', '--by', 'carol');
  assert.equal(restored.code, 0, restored.stderr);
  const found = JSON.parse((await cli('audit', 'search', '--kind', 'admin.action', '--json')).stdout) as {
    records: Array<{ detail: Record<string, unknown> }>;
  };
  const restore = found.records.find((r) => r.detail.action === 'credentials.restore' && r.detail.ref === ref);
  assert.equal(restore?.detail.reason, 'rotated at the provider');

  // The CLI's own name (`cli:<user>@<host>`, or --by) is shown as it is, never glued to a tenant by another `@`.
  const text = (await cli('audit', 'search', '--kind', 'admin.action')).stdout;
  assert.match(text, /\bcarol \(cli\)/);
  assert.doesNotMatch(text, /@\*|cli:\S+@\S+@/);
});

test('--json says every moment as ISO 8601, as keys, secrets and audit records do (walk W: incident list, mode list and approvals said epoch milliseconds)', async () => {
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
  const incidents = JSON.parse((await cli('incident', 'list', '--json')).stdout) as {
    incidents: Array<{ openedAt: unknown; windowStart: unknown }>;
  };
  assert.ok(incidents.incidents.length > 0);
  for (const i of incidents.incidents) {
    assert.match(String(i.openedAt), iso);
    assert.match(String(i.windowStart), iso);
  }
  assert.equal((await cli('mode', 'set', 'read_only', '--tool', 's__y', '--allow-unknown', '--reason', 'r')).code, 0);
  const modes = JSON.parse((await cli('mode', 'list', '--json')).stdout) as { modes: Array<{ setAt: unknown }> };
  assert.ok(modes.modes.length > 0);
  for (const m of modes.modes) assert.match(String(m.setAt), iso);
});
