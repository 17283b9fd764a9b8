import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callbackPage, refusalText } from './oauth-callback.ts';

const SPOOF = '<img src=x>Click https://evil.test to retry';
const ended = { server: 'remote', tenant: 'acme' };

test('an unknown state gets a fixed message: nothing of the query is shown (walk S, F6)', async () => {
  const asked: string[] = [];
  const deps = {
    oauthCallback: async () => assert.fail('no code to exchange'),
    oauthRefused: async (state: string) => void asked.push(state),
  };
  const queries: Record<string, string>[] = [
    { error: SPOOF, state: 'junk' },
    { error: 'access_denied', error_description: SPOOF, state: 'junk' },
    { error: SPOOF },
    { code: 'c', error: SPOOF, state: 'junk' },
    {},
  ];
  for (const query of queries) {
    const page = await callbackPage(new URLSearchParams(query), deps);
    assert.equal(page.status, 400);
    assert.match(page.html, /Not authorized: this authorization is unknown or expired/);
    assert.doesNotMatch(page.html, /evil|Click|img|access_denied/i, JSON.stringify(query));
  }
  assert.deepEqual(asked, ['junk', 'junk', 'junk'], 'a code beside an error is never exchanged');
});

test("a known state shows only RFC 6749's registered error code, never error_description or error_uri", () => {
  for (const code of ['access_denied', 'invalid_scope', 'temporarily_unavailable'])
    assert.equal(
      refusalText(code, ended),
      `Not authorized: the authorization server answered \`${code}\` for server remote, tenant acme. Start again with \`gatehouse upstream authorize\`.`,
    );
  for (const error of [SPOOF, 'ACCESS_DENIED', 'access_denied ', null]) {
    const said = refusalText(error, ended);
    assert.match(said, /sent no code \(its answer is not shown here\) for server remote, tenant acme/);
    assert.doesNotMatch(said, /evil|ACCESS|access_denied/);
  }
});
