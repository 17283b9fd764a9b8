import { test } from 'node:test';
import assert from 'node:assert/strict';
import { URI_SCHEME, namespaceUri, namespaceUris, splitUri } from './uris.ts';

test("namespaceUri and splitUri are inverses, whatever the server's URI holds", () => {
  assert.equal(URI_SCHEME, 'gatehouse:');
  for (const uri of [
    'secret://token',
    'file:///srv/a b.txt',
    'https://example.com/a?b=c#d',
    'gatehouse:twin/secret://token',
    'x',
  ]) {
    const n = namespaceUri('mt', uri);
    assert.equal(n, `gatehouse:mt/${uri}`);
    assert.deepEqual(splitUri(n), { server: 'mt', uri });
    assert.doesNotThrow(() => new URL(n), 'a valid URI');
  }
  // The first slash ends the server name: a URI naming another server stays the server's own.
  assert.deepEqual(splitUri('gatehouse:mt/gatehouse:twin/x'), { server: 'mt', uri: 'gatehouse:twin/x' });
});

test('anything else is not a namespaced URI', () => {
  for (const uri of [
    'secret://token',
    'gatehouse:',
    'gatehouse:mt',
    'gatehouse:mt/',
    'gatehouse:/secret://token',
    'GATEHOUSE:mt/x',
    ' gatehouse:mt/x',
    'gatehouse//mt/x',
    'urn:gatehouse:mt/x',
  ]) {
    assert.equal(splitUri(uri), undefined, uri);
  }
});

test("resources/read: each content's URI is namespaced; everything else is kept", () => {
  const r = namespaceUris(
    'resources/read',
    {
      contents: [{ uri: 'secret://token', text: 't', mimeType: 'text/plain' }, { blob: 'AA==' }, 'odd', null],
      _meta: { x: 1 },
    },
    'mt',
  );
  assert.deepEqual(r, {
    contents: [
      { uri: 'gatehouse:mt/secret://token', text: 't', mimeType: 'text/plain' },
      { blob: 'AA==' },
      'odd',
      null,
    ],
    _meta: { x: 1 },
  });
});

test('tools/call: resource links and embedded resources are namespaced, other blocks untouched', () => {
  const r = namespaceUris(
    'tools/call',
    {
      content: [
        { type: 'text', text: 'see file:///srv/a.txt', uri: 'not-a-link' },
        { type: 'resource_link', uri: 'file:///srv/a.txt', name: 'a' },
        { type: 'resource', resource: { uri: 'file:///srv/b.txt', text: 'b' } },
        { type: 'resource', resource: { text: 'no uri' } },
        { type: 'image', data: 'AA==', mimeType: 'image/png' },
        ['nested'],
      ],
      isError: false,
    },
    'mt',
  );
  assert.deepEqual(r.content, [
    { type: 'text', text: 'see file:///srv/a.txt', uri: 'not-a-link' },
    { type: 'resource_link', uri: 'gatehouse:mt/file:///srv/a.txt', name: 'a' },
    { type: 'resource', resource: { uri: 'gatehouse:mt/file:///srv/b.txt', text: 'b' } },
    { type: 'resource', resource: { text: 'no uri' } },
    { type: 'image', data: 'AA==', mimeType: 'image/png' },
    ['nested'],
  ]);
  assert.equal(r.isError, false);
});

test('prompts/get: message contents, single or arrays, are namespaced', () => {
  const r = namespaceUris(
    'prompts/get',
    {
      messages: [
        { role: 'user', content: { type: 'resource', resource: { uri: 'secret://token', text: 'x' } } },
        {
          role: 'assistant',
          content: [
            { type: 'resource_link', uri: 'secret://a' },
            { type: 'text', text: 'hi' },
          ],
        },
        { role: 'user', content: { type: 'text', text: 'plain' } },
        'odd',
      ],
    },
    'mt',
  );
  assert.deepEqual(r.messages, [
    { role: 'user', content: { type: 'resource', resource: { uri: 'gatehouse:mt/secret://token', text: 'x' } } },
    {
      role: 'assistant',
      content: [
        { type: 'resource_link', uri: 'gatehouse:mt/secret://a' },
        { type: 'text', text: 'hi' },
      ],
    },
    { role: 'user', content: { type: 'text', text: 'plain' } },
    'odd',
  ]);
});

test('other methods and unexpected shapes pass unchanged, and the input is never modified', () => {
  const input = { content: [{ type: 'resource_link', uri: 'secret://a' }] };
  const frozen = structuredClone(input);
  assert.equal(namespaceUris('completion/complete', input, 'mt'), input);
  assert.equal(namespaceUris('resources/read', input, 'mt'), input, 'no contents array');
  const out = namespaceUris('tools/call', input, 'mt');
  assert.notEqual(out, input);
  assert.deepEqual(input, frozen);
  const notArray = { contents: { uri: 'secret://a' } };
  assert.equal(namespaceUris('resources/read', notArray as never, 'mt'), notArray);
});
