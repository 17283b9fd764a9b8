import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APPROVAL_CSS, approvalPage, listPage, resultPage } from './page.ts';
import { receipt } from './receipt.ts';
import { fixtureRequest } from './fixtures.test-util.ts';

const hostile = {
  title: '<script>alert(1)</script>',
  body: '"><img src=x onerror=alert(1)>',
  owner: "acme' onmouseover='x",
  repo: 'web\u202Etxt.exe',
};
const req = fixtureRequest('github__create_issue', hostile, {
  summary: 'Create issue <script>alert(1)</script> in acme/web\u202Etxt.exe',
  toolClass: 'DESTRUCTIVE',
  resource: 'repo:acme/web\u200B',
  requester: { key: 'key:alice', subject: '<b>alice</b>', tenant: 'acme', client: 'cl"ient' },
});
const opts = {
  csrfToken: 'tok"en<1>',
  actionUrl: '/approvals/apr_AAAAAAAAAAAAAAAAAAAAAA/decide',
  viewer: { subject: 'bob' },
  canDecide: true,
};

test('hostile values are escaped and hidden characters marked; no script anywhere', () => {
  const html = approvalPage(req, receipt(req), opts);
  assert.equal(/<script/i.test(html), false);
  assert.equal(/<img/i.test(html), false);
  // Every real tag is ours: known element names, no event-handler attributes.
  const ALLOWED = new Set([
    'html',
    'head',
    'meta',
    'title',
    'link',
    'body',
    'main',
    'p',
    'strong',
    'h1',
    'h2',
    'h3',
    'dl',
    'dt',
    'dd',
    'code',
    'span',
    'time',
    'section',
    'table',
    'tbody',
    'tr',
    'th',
    'td',
    'pre',
    'ul',
    'li',
    'q',
    'form',
    'input',
    'label',
    'textarea',
    'button',
    'small',
    'br',
    'a',
  ]);
  for (const tag of html.match(/<[a-zA-Z][^>]*>/g) ?? []) {
    assert.ok(ALLOWED.has(/^<([a-zA-Z0-9]+)/.exec(tag)![1].toLowerCase()), tag);
    assert.equal(/\son[a-z]+\s*=/i.test(tag), false, tag);
  }
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(html.includes('acme&#39; onmouseover=&#39;x'));
  assert.ok(html.includes('web⟨U+202E⟩txt.exe'));
  assert.ok(html.includes('repo:acme/web⟨U+200B⟩'));
  assert.ok(html.includes('&lt;b&gt;alice&lt;/b&gt;'));
  assert.equal(/[\u202E\u200B]/.test(html), false, 'no raw hidden character reaches the page');
});

test('a complete document: viewport, external stylesheet, no inline styles, facts shown', () => {
  const html = approvalPage(req, receipt(req), opts);
  assert.match(html, /^<!DOCTYPE html>/);
  assert.ok(html.includes('<meta name="viewport" content="width=device-width, initial-scale=1">'));
  assert.ok(html.includes('<link rel="stylesheet" href="/approvals/static/page.css">'));
  assert.equal(/\sstyle=|<style/i.test(html), false);
  assert.ok(
    html.includes('<span class="cls cls-destructive">DESTRUCTIVE</span>'),
    'the class in words, not only colour',
  );
  assert.ok(html.includes('2026-01-01T12:00:00.000Z') && html.includes('2026-01-01T12:15:00.000Z'));
  assert.ok(html.includes('<code>github__create_issue</code>') && html.includes('<code>github</code>'));
  assert.ok(APPROVAL_CSS.includes('.cls-destructive'));
});

test('forms only when the viewer can decide, each with the CSRF token and decision', () => {
  const html = approvalPage(req, receipt(req), opts);
  assert.equal(html.match(/<form method="post" action="\/approvals\/apr_AAAAAAAAAAAAAAAAAAAAAA\/decide"/g)?.length, 2);
  assert.equal(html.match(/<input type="hidden" name="csrf" value="tok&quot;en&lt;1&gt;">/g)?.length, 2);
  assert.ok(html.includes('name="decision" value="approve"') && html.includes('name="decision" value="deny"'));
  assert.ok(html.includes('<textarea'));
  const viewOnly = approvalPage(req, receipt(req), { ...opts, canDecide: false, why: 'You requested this <action>.' });
  assert.equal(/<form/i.test(viewOnly), false);
  assert.equal(viewOnly.includes('tok'), false, 'no token when there is no form');
  assert.ok(viewOnly.includes('You requested this &lt;action&gt;.'));
  const decided = approvalPage({ ...req, status: 'approved' }, receipt(req), opts);
  assert.equal(/<form/i.test(decided), false, 'no forms once decided');
});

test('diff lines are marked and escaped', () => {
  const w = fixtureRequest('files__write_file', { path: '/srv/<a>.html', content: '<script>x</script>\n' });
  const html = approvalPage(w, receipt(w, { currentContent: 'old\n' }), opts);
  assert.ok(html.includes('<span class="add">+&lt;script&gt;x&lt;/script&gt;</span>'));
  assert.ok(html.includes('<span class="del">-old</span>'));
  assert.equal(/<script/i.test(html), false);
});

test('an unsafe action URL is refused', () => {
  assert.throws(() => approvalPage(req, receipt(req), { ...opts, actionUrl: 'javascript:alert(1)' }));
  assert.throws(() => approvalPage(req, receipt(req), { ...opts, actionUrl: '//evil.example/x' }));
});

test('list and result pages', () => {
  const list = listPage([
    req,
    fixtureRequest(
      'files__delete_file',
      { path: '/x' },
      { id: 'apr_BBBBBBBBBBBBBBBBBBBBBB', createdAt: req.createdAt + 1 },
    ),
  ]);
  assert.equal(/<script/i.test(list), false);
  assert.ok(list.includes('href="/approvals/apr_AAAAAAAAAAAAAAAAAAAAAA"'));
  assert.ok(list.indexOf('apr_BBBB') < list.indexOf('apr_AAAA'), 'newest first');
  assert.ok(listPage([]).includes('Nothing is waiting'));
  const res = resultPage('Denied <b>\u202E</b>');
  assert.ok(res.includes('Denied &lt;b&gt;⟨U+202E⟩&lt;/b&gt;'));
});

test('a write whose diff is too long shows its whole content, the tail included, and never a cut diff', () => {
  const content = `${'benign line\n'.repeat(20_000)}EVIL-TAIL\n`;
  const long = fixtureRequest('files__write_file', { path: '/srv/long.txt', content });
  const html = approvalPage(long, receipt(long, { currentContent: null }), opts);
  assert.ok(html.includes('EVIL-TAIL'), 'the end of the content is on the page');
  assert.match(html, /<p class="warn">The diff against the current content is too long to show/);
  assert.doesNotMatch(html, /was cut/);
  assert.equal((html.match(/benign line/g) ?? []).length, 20_000, 'every line of it');
});

test('look-alike names: the target, a path field, the tool and the requester show each character outside ASCII with its code point, with a notice; values stay readable (walk S, F2)', () => {
  const r = fixtureRequest(
    'files__move_file',
    { source: '/data/а.txt', destination: '/data/b.txt', message: 'Привет\u3000\u3000мир' },
    { resource: 'path:/data/а.txt', requester: { key: 'key:x', subject: 'аlice', tenant: 'acme', client: 'c' } },
  );
  const html = approvalPage(r, receipt(r), opts);
  assert.match(
    html,
    /<p class="warn lookalike">The target, `source` and requester contain characters outside ASCII: look-alikes possible \(each is shown with its code point\)\.<\/p>/,
  );
  assert.match(html, /<dt>Target<\/dt><dd><code>path:\/data\/а⟨U\+0430⟩\.txt<\/code><\/dd>/);
  assert.match(html, /<dt>Requested by<\/dt><dd>а⟨U\+0430⟩lice /);
  assert.match(html, /&quot;source&quot;: &quot;\/data\/а⟨U\+0430⟩\.txt&quot;/, 'the path argument');
  assert.match(html, /&quot;destination&quot;: &quot;\/data\/b\.txt&quot;/);
  assert.match(html, /Привет⟨U\+3000 ×2⟩мир/, 'free text marked, not mangled');
  const ticket = fixtureRequest('github__create_issue', { owner: 'аcme', repo: 'web', title: 'Исправить вход' });
  const fields = approvalPage(ticket, receipt(ticket), opts);
  assert.equal(receipt(ticket).kind, 'fields');
  assert.match(fields, /<pre class="cell">а⟨U\+0430⟩cme<\/pre>/);
  assert.match(fields, /<pre class="cell">Исправить вход<\/pre>/);
  assert.match(fields, /The `owner` contains characters outside ASCII/);
  const plain = fixtureRequest('files__move_file', { source: '/data/a.txt' }, { resource: 'path:/data/a.txt' });
  assert.doesNotMatch(approvalPage(plain, receipt(plain), opts), /lookalike|⟨U\+/);
  assert.match(listPage([r]), /<code>files__move_file<\/code> · а⟨U\+0430⟩lice/);
});
