import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { openParts, seal, sealParts, unseal } from './seal.ts';

const key = randomBytes(32);

test('seal and unseal round-trip; a fresh nonce each time', () => {
  const a = seal(key, 'aad', 'héllo');
  assert.equal(unseal(key, 'aad', a), 'héllo');
  assert.notEqual(seal(key, 'aad', 'héllo'), a);
  assert.equal(openParts(key, 'n', sealParts(key, 'n', 'v')), 'v');
});

test('another aad, another key, a changed byte or a cut tag does not open', () => {
  const a = seal(key, 'aad', 'secret');
  assert.throws(() => unseal(key, 'other', a));
  assert.throws(() => unseal(randomBytes(32), 'aad', a));
  const [iv, tag, body] = a.split('.');
  const flipped = Buffer.from(body, 'base64url');
  flipped[0] ^= 1;
  assert.throws(() => unseal(key, 'aad', [iv, tag, flipped.toString('base64url')].join('.')));
  assert.throws(() => unseal(key, 'aad', [iv, tag.slice(0, 8), body].join('.')));
  assert.throws(() => unseal(key, 'aad', 'garbage'));
});

test('the format is AES-256-GCM iv.tag.ciphertext in base64url (values sealed before still open)', () => {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from('t\u0000acme'));
  const body = Buffer.concat([c.update('{"a":1}', 'utf8'), c.final()]);
  const old = [iv, c.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
  assert.equal(unseal(key, 't\u0000acme', old), '{"a":1}');
});
