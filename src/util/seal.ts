/**
 * Sealing (AEAD): AES-256-GCM with a fresh random 96-bit nonce per seal, a 128-bit tag, and
 * associated data that binds the sealed text to where it belongs (a secret's name, a tenant's token,
 * a cookie's purpose), so it cannot be moved. The one place the gateway encrypts.
 *
 * Two encodings of the same parts, both of which are on disk or in browsers already and must keep
 * opening: `sealParts` (separate iv, tag and ciphertext; the local secret store) and `seal` (the
 * compact `iv.tag.ciphertext` in base64url; OAuth tokens and console cookies).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { hmacSha256 } from './hmac.ts';

const ALG = 'aes-256-gcm';
const TAG_BYTES = 16;

export interface Sealed {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Encrypts `plain` (UTF-8) under the 32-byte `key`, authenticated together with `aad` (UTF-8). */
export function sealParts(key: Buffer, aad: string, plain: string): Sealed {
  const iv = randomBytes(12);
  const c = createCipheriv(ALG, key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return { iv, tag: c.getAuthTag(), ciphertext };
}

/** The plain text of `sealed`; throws when it fails authentication (tampered, moved to another `aad`, or another key). */
export function openParts(key: Buffer, aad: string, sealed: Sealed): string {
  const d = createDecipheriv(ALG, key, sealed.iv, { authTagLength: TAG_BYTES });
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(sealed.tag);
  return Buffer.concat([d.update(sealed.ciphertext), d.final()]).toString('utf8');
}

/** A 32-byte key for one purpose (`info`), derived from `key` (HKDF-SHA-256): one key is never used by two algorithms. */
export function deriveKey(key: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
}

/**
 * `seal`, deterministic: the nonce is the HMAC (under `nonceKey`, not `key`) of the associated data
 * and plain text, so the same text sealed twice gives the same string, and two texts share a nonce
 * only if their MACs collide. For values whose equality may show (a task's handle, given again in
 * every answer about the task); `unseal` opens it.
 */
export function sealFixed(key: Buffer, nonceKey: Buffer, aad: string, plain: string): string {
  const iv = hmacSha256(nonceKey, aad, '\0', plain).subarray(0, 12);
  const c = createCipheriv(ALG, key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return [iv, c.getAuthTag(), ciphertext].map((b) => b.toString('base64url')).join('.');
}

/** `sealParts` as one string: `iv.tag.ciphertext`, each base64url. */
export function seal(key: Buffer, aad: string, plain: string): string {
  const s = sealParts(key, aad, plain);
  return [s.iv, s.tag, s.ciphertext].map((b) => b.toString('base64url')).join('.');
}

/** The plain text of a `seal` string; throws when it is malformed or fails authentication. */
export function unseal(key: Buffer, aad: string, sealed: string): string {
  const [iv, tag, ciphertext] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  if (!iv || !tag || !ciphertext) throw new Error('malformed sealed value');
  return openParts(key, aad, { iv, tag, ciphertext });
}
