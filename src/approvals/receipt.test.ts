import { test } from 'node:test';
import assert from 'node:assert/strict';
import { receipt } from './receipt.ts';
import { fixtureRequest } from './fixtures.test-util.ts';

test('a file write with current content gets a unified diff', () => {
  const req = fixtureRequest('files__write_file', { path: '/srv/a.txt', content: 'one\nTWO\nthree\n' });
  const r = receipt(req, { currentContent: 'one\ntwo\nthree\n' });
  assert.equal(r.kind, 'diff');
  if (r.kind !== 'diff') return;
  assert.equal(r.newFile, false);
  assert.match(r.unified, /^--- \/srv\/a\.txt$/m);
  assert.match(r.unified, /^\+\+\+ \/srv\/a\.txt$/m);
  assert.match(r.unified, /^-two$/m);
  assert.match(r.unified, /^\+TWO$/m);
  assert.match(r.unified, /^ one$/m);
  assert.match(r.unified, /^---/, 'starts at the file header');
  assert.equal(r.otherArgs, undefined);
});

test('a write to a file that does not exist is a new-file diff', () => {
  const req = fixtureRequest('files__write_file', { path: 'notes.md', content: 'hello\nworld\n', mode: '0600' });
  const r = receipt(req, { currentContent: null });
  assert.equal(r.kind, 'diff');
  if (r.kind !== 'diff') return;
  assert.equal(r.newFile, true);
  assert.match(r.unified, /^--- \/dev\/null$/m);
  assert.match(r.unified, /^@@ -0,0 \+1,2 @@$/m);
  assert.match(r.unified, /^\+hello$/m);
  assert.match(r.otherArgs ?? '', /"mode": "0600"/, 'arguments besides path and content stay visible');
});

test('without current content (not read), a write falls back to the arguments', () => {
  const r = receipt(fixtureRequest('files__write_file', { path: 'a', content: 'b' }));
  assert.equal(r.kind, 'arguments');
});

test('an issue-like call gets a field table with every argument', () => {
  const req = fixtureRequest('github__create_issue', {
    zeta: 1,
    body: 'Steps…',
    owner: 'acme',
    repo: 'web',
    title: 'Login broken',
    labels: ['bug', 'p1'],
    assignees: [],
  });
  const r = receipt(req);
  assert.equal(r.kind, 'fields');
  if (r.kind !== 'fields') return;
  assert.deepEqual(r.rows, [
    ['owner', 'acme'],
    ['repo', 'web'],
    ['title', 'Login broken'],
    ['labels', 'bug, p1'],
    ['assignees', ''],
    ['body', 'Steps…'],
    ['zeta', '1'],
  ]);
  const pr = receipt(fixtureRequest('github__create_pull_request', { base: 'main', head: 'feat', draft: false }));
  assert.equal(pr.kind, 'fields');
});

test('anything else shows the full arguments as pretty JSON', () => {
  const args = { query: 'DROP TABLE users', opts: { force: true } };
  const r = receipt(fixtureRequest('db__execute', args));
  assert.deepEqual(r, { kind: 'arguments', json: JSON.stringify(args, null, 2) });
  assert.deepEqual(receipt(fixtureRequest('x__y', undefined)), { kind: 'arguments', json: 'null' });
});

test('a diff too long to show is never cut: the write shows every argument whole instead, and says why', () => {
  const content = `${'benign line\n'.repeat(20_000)}EVIL-TAIL\n`;
  const req = fixtureRequest('files__write_file', { path: '/srv/long.txt', content, mode: '0600' });
  const r = receipt(req, { currentContent: 'old\n' });
  assert.equal(r.kind, 'fields');
  if (r.kind !== 'fields') return;
  assert.deepEqual(r.rows, [
    ['path', '/srv/long.txt'],
    ['content', content],
    ['mode', '0600'],
  ]);
  assert.match(r.note ?? '', /too long to show \(\d+ characters\): below is every argument, whole/);
  // Short of the limit, the diff as before.
  assert.equal(receipt(req, { currentContent: content.replace('EVIL-TAIL', 'x') }).kind, 'diff');
});
