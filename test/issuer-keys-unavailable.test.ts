/**
 * An identity issuer whose keys cannot be fetched (walk N): callers get `401 invalid token: issuer
 * keys unavailable`, and the gateway's log says which issuer and why, once a minute at most, never
 * the token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair } from 'jose';
import { startGateway } from './support/gateway.ts';
import { capturedLog } from './support/logs.ts';
import { freePort } from './support/processes.ts';
import { postModernCall } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

test('a token of an issuer whose keys cannot be fetched is refused, and the gateway logs the issuer and why', async () => {
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const issuer = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  const { log, lines } = capturedLog('warn');
  const t = await startGateway('', {
    port,
    log,
    top: `identity:\n  resource: ${resource}\n  issuers: [{ issuer: ${JSON.stringify(issuer)} }]\n`,
  });
  try {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(resource)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    for (let i = 0; i < 3; i++) {
      const r = await postModernCall(t.url, 'x__y', {}, { token });
      assert.equal(r.status, 401);
      assert.match(await r.text(), /issuer keys unavailable/);
    }
    const warned = await eventually(() => {
      const w = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('keys of an issuer cannot be fetched'));
      return w.length ? w : undefined;
    });
    assert.equal(warned.length, 1, 'once a minute per issuer');
    assert.equal(warned[0].issuer, issuer);
    assert.match(String(warned[0].reason), /no usable discovery document \(.*ECONNREFUSED/);
    for (const part of token.split('.')) assert.ok(!JSON.stringify(lines).includes(part), 'no token in the log');
  } finally {
    await t.close();
  }
});
