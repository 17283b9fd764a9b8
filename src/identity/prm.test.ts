import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metadataUrls, protectedResourceMetadata, sanitizeDescription, wwwAuthenticate } from './prm.ts';

test('protectedResourceMetadata builds the RFC 9728 document, resource untouched', () => {
  const doc = protectedResourceMetadata({
    resource: 'https://gateway.example.com/mcp',
    authorizationServers: ['https://idp.example.com'],
    scopesSupported: ['mcp:tools', 'mcp:read'],
    resourceName: 'Gatehouse',
  });
  assert.deepEqual(doc, {
    resource: 'https://gateway.example.com/mcp',
    authorization_servers: ['https://idp.example.com'],
    scopes_supported: ['mcp:tools', 'mcp:read'],
    bearer_methods_supported: ['header'],
    resource_name: 'Gatehouse',
  });
  // No normalisation: URL.href would have turned https://h into https://h/ and broken the audience match.
  assert.equal(
    protectedResourceMetadata({ resource: 'https://h', authorizationServers: [], scopesSupported: [] }).resource,
    'https://h',
  );
  assert.equal(
    'resource_name' in
      protectedResourceMetadata({ resource: 'https://h', authorizationServers: [], scopesSupported: [] }),
    false,
  );
});

test('protectedResourceMetadata refuses bad input', () => {
  const base = { authorizationServers: ['https://idp'], scopesSupported: ['a'] };
  assert.throws(() => protectedResourceMetadata({ ...base, resource: 'gateway/mcp' }), TypeError);
  assert.throws(() => protectedResourceMetadata({ ...base, resource: 'https://h/mcp#frag' }), TypeError);
  assert.throws(() => protectedResourceMetadata({ ...base, resource: 'ftp://h/mcp' }), TypeError);
  assert.throws(
    () => protectedResourceMetadata({ ...base, resource: 'https://h/mcp', authorizationServers: ['idp'] }),
    TypeError,
  );
  assert.throws(
    () => protectedResourceMetadata({ ...base, resource: 'https://h/mcp', scopesSupported: ['a b'] }),
    TypeError,
  );
  assert.throws(
    () => protectedResourceMetadata({ ...base, resource: 'https://h/mcp', scopesSupported: ['a"'] }),
    TypeError,
  );
});

test('metadataUrls inserts the well-known segment before the path, then the root form', () => {
  assert.deepEqual(metadataUrls('https://h/mcp'), [
    'https://h/.well-known/oauth-protected-resource/mcp',
    'https://h/.well-known/oauth-protected-resource',
  ]);
  assert.deepEqual(metadataUrls('https://h:8443/servers/github/mcp'), [
    'https://h:8443/.well-known/oauth-protected-resource/servers/github/mcp',
    'https://h:8443/.well-known/oauth-protected-resource',
  ]);
  assert.deepEqual(metadataUrls('https://h/'), ['https://h/.well-known/oauth-protected-resource']);
  assert.deepEqual(metadataUrls('https://h'), ['https://h/.well-known/oauth-protected-resource']);
  assert.deepEqual(metadataUrls('http://127.0.0.1:8765/mcp?x=1'), [
    'http://127.0.0.1:8765/.well-known/oauth-protected-resource/mcp?x=1',
    'http://127.0.0.1:8765/.well-known/oauth-protected-resource',
  ]);
});

test('wwwAuthenticate builds the Bearer challenge', () => {
  const url = 'https://h/.well-known/oauth-protected-resource/mcp';
  assert.equal(wwwAuthenticate({ resourceMetadataUrl: url }), `Bearer resource_metadata="${url}"`);
  assert.equal(
    wwwAuthenticate({
      resourceMetadataUrl: url,
      error: 'insufficient_scope',
      scope: ['mcp:tools', 'mcp:admin'],
      description: 'needs admin',
    }),
    `Bearer resource_metadata="${url}", error="insufficient_scope", scope="mcp:tools mcp:admin", error_description="needs admin"`,
  );
  assert.equal(
    wwwAuthenticate({ resourceMetadataUrl: url, error: 'invalid_token', description: 'token expired' }),
    `Bearer resource_metadata="${url}", error="invalid_token", error_description="token expired"`,
  );
});

test('wwwAuthenticate cannot be injected through the description', () => {
  const url = 'https://h/.well-known/oauth-protected-resource/mcp';
  const hostile = 'bad"\r\nSet-Cookie: x=1\\", error="none", scope="admin\u0000é';
  const header = wwwAuthenticate({ resourceMetadataUrl: url, error: 'invalid_token', description: hostile });
  assert.doesNotMatch(header, /[\r\n\0]/);
  assert.doesNotMatch(header, /[^\x20-\x7e]/);
  // exactly the quotes we put there: 3 parameters, 6 quote characters
  assert.equal(header.split('"').length - 1, 6);
  assert.equal(
    header,
    `Bearer resource_metadata="${url}", error="invalid_token", error_description="bad' Set-Cookie: x=1/', error='none', scope='admin"`,
  );
  // a description that sanitises to nothing is omitted rather than sent empty
  assert.equal(wwwAuthenticate({ resourceMetadataUrl: url, description: '\r\n' }), `Bearer resource_metadata="${url}"`);
  assert.equal(sanitizeDescription('x'.repeat(500)).length, 200);
});

test('wwwAuthenticate refuses bad scope tokens, error codes and URLs', () => {
  const url = 'https://h/.well-known/oauth-protected-resource';
  assert.throws(() => wwwAuthenticate({ resourceMetadataUrl: url, scope: ['a" b'] }), TypeError);
  assert.throws(() => wwwAuthenticate({ resourceMetadataUrl: url, scope: ['a\\b'] }), TypeError);
  assert.throws(() => wwwAuthenticate({ resourceMetadataUrl: url, error: 'x"' as 'invalid_token' }), TypeError);
  assert.throws(() => wwwAuthenticate({ resourceMetadataUrl: 'not a url' }), TypeError);
  // a quote smuggled into the URL is percent-encoded by URL serialisation
  assert.equal(wwwAuthenticate({ resourceMetadataUrl: 'https://h/a"b' }), 'Bearer resource_metadata="https://h/a%22b"');
});
