import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mrkdwn, sign, slackPayload, verify } from './webhook.ts';
import { fixtureRequest } from './fixtures.test-util.ts';

const secret = 'whsec_test';
const body = JSON.stringify({ id: 'apr_x', status: 'pending' });
const now = 1_767_268_800;

test('a signed body verifies', () => {
  const h = sign(body, secret, now);
  assert.equal(h['x-gatehouse-timestamp'], String(now));
  assert.match(h['x-gatehouse-signature'], /^v1=[0-9a-f]{64}$/);
  assert.equal(verify(h, body, secret, now + 10), true);
  assert.equal(
    verify(
      { 'X-Gatehouse-Timestamp': h['x-gatehouse-timestamp'], 'X-Gatehouse-Signature': h['x-gatehouse-signature'] },
      Buffer.from(body),
      secret,
      now,
    ),
    true,
  );
});

test('tampered body, wrong secret, bad signatures and stale or future timestamps are refused', () => {
  const h = sign(body, secret, now);
  assert.equal(verify(h, body.replace('pending', 'approved'), secret, now), false);
  assert.equal(verify(h, body, 'other', now), false);
  assert.equal(
    verify({ ...h, 'x-gatehouse-timestamp': String(now + 1) }, body, secret, now),
    false,
    'timestamp is signed',
  );
  assert.equal(verify(h, body, secret, now + 301), false, 'stale');
  assert.equal(verify(h, body, secret, now - 301), false, 'future');
  assert.equal(verify(h, body, secret, now + 300), true);
  assert.equal(verify({ ...h, 'x-gatehouse-signature': 'v1=abc' }, body, secret, now), false);
  assert.equal(verify({ 'x-gatehouse-signature': h['x-gatehouse-signature'] }, body, secret, now), false);
  assert.equal(verify({ ...h, 'x-gatehouse-signature': [h['x-gatehouse-signature']] }, body, secret, now), false);
});

test('Slack text cannot mention or link: <!channel>, <https://evil|click>, @here', () => {
  const req = fixtureRequest(
    'slack__post',
    { text: 'x' },
    {
      summary: 'Post <!channel> see <https://evil.example|click> @here & <@U123> \u202E',
      resource: '<!here>',
    },
  );
  const p = slackPayload(req, 'https://gatehouse.example/approvals/apr_x');
  const all = JSON.stringify(p);
  for (const bad of ['<!channel>', '<!here>', '<https://evil', '<@U123>', '@here', '\u202E'])
    assert.equal(all.includes(bad), false, bad);
  assert.ok(p.text.includes('&lt;!channel&gt;'));
  assert.ok(p.text.includes('&lt;https://evil.example|click&gt;'));
  assert.ok(p.text.includes('＠here &amp; &lt;＠U123&gt; ⟨U+202E⟩'));
  assert.ok(p.text.endsWith('<https://gatehouse.example/approvals/apr_x|review>'), 'only our link is a link');
  assert.equal(mrkdwn('a<b>&c'), 'a&lt;b&gt;&amp;c');
  assert.throws(() => slackPayload(req, 'https://x.example/a|b'));
  assert.throws(() => slackPayload(req, 'javascript:alert(1)'));
});

test('the names in the message are marked as on the page: outside ASCII with code points, with the notice', () => {
  const req = fixtureRequest(
    'files__write_file',
    { path: '/data/а.txt\u200B' },
    { resource: 'path:/data/а.txt\u200B', tool: 'files__write_fіle', summary: 'Write /data/а⟨U+0430⟩.txt⟨U+200B⟩' },
  );
  req.requester = { ...req.requester, subject: 'аlice\uFE0F' };
  const p = slackPayload(req, 'https://gatehouse.example/approvals/apr_x');
  const all = JSON.stringify(p);
  assert.ok(all.includes('path:/data/а⟨U+0430⟩.txt⟨U+200B⟩'), 'the target');
  assert.ok(all.includes('files__write_fі⟨U+0456⟩le'), 'the tool');
  assert.ok(all.includes('а⟨U+0430⟩lice⟨U+FE0F⟩ (acme, claude)'), 'the requester');
  // No name is shown bare: every Cyrillic letter is followed by its code point, no invisible character is left.
  assert.doesNotMatch(all.replace(/(а|і)⟨U\+04[35][06]⟩/g, ''), /а|і|\u200B|\uFE0F/u);
  assert.match(
    p.text,
    /:warning: The tool, target, `path` and requester contain characters outside ASCII: look-alikes possible \(each is shown with its code point\)\. — <https:\/\/gatehouse\.example\/approvals\/apr_x\|review>$/,
  );
  const plain = slackPayload(fixtureRequest('files__write_file', { path: '/data/a.txt' }), 'https://g.example/a');
  assert.doesNotMatch(JSON.stringify(plain), /warning|U\+/);
});
