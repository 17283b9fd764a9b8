/**
 * The approval page's form token (CSRF): an HMAC of the request, who views it, what signed them in
 * for this page (their console session, else the Authorization header the page was loaded with) and
 * when it was made. A token copied from one sign-in does not work in the next one (walk AA: it was
 * the request and the viewer only, the same across every session of that person), and none works
 * after FORM_TOKEN_TTL_MS. Pure: the key and the moment are given.
 */
import { hmacSha256, sameBytes } from '../util/hmac.ts';

/** How long a form stays good: long enough to read a diff, short enough that an old page's token is spent. */
export const FORM_TOKEN_TTL_MS = 2 * 3600_000;

/** The token for `id`, viewed by `viewerKey` signed in by `binding`, made at `atMs`. */
export function formToken(key: string, id: string, viewerKey: string, binding: string, atMs: number): string {
  const at = Math.floor(atMs / 1000);
  return `${at}.${hmacSha256(key, id, '\n', viewerKey, '\n', binding, '\n', String(at)).toString('base64url')}`;
}

/** Whether `token` is the one formToken made for these, at most FORM_TOKEN_TTL_MS before `nowMs` (and not after it). */
export function formTokenOk(
  key: string,
  token: string,
  id: string,
  viewerKey: string,
  binding: string,
  nowMs: number,
): boolean {
  const dot = token.indexOf('.');
  const at = Number(token.slice(0, dot));
  if (dot <= 0 || !Number.isSafeInteger(at)) return false;
  const age = nowMs - at * 1000;
  if (age > FORM_TOKEN_TTL_MS || age < -60_000) return false;
  return sameBytes(token, formToken(key, id, viewerKey, binding, at * 1000));
}
