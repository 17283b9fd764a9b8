/**
 * What names a legacy session outside the process and the store: in Redis keys (which anyone with
 * access lists) and in the messages replicas send each other over pub/sub (which anyone subscribed
 * reads). The session id is the caller's to present, a bearer-like handle, so what crosses Redis is
 * a digest of it: enough to find the session a replica holds, useless to present as one.
 */
import { createHash } from 'node:crypto';

export function sessionDigest(id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 32);
}
