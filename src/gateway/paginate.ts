/**
 * Cursor pagination of catalogue listings. A page is the items after the last key the caller saw, in
 * key order (name, or URI), so a listing that changes between two pages neither repeats nor skips
 * what was there all along. The cursor is sealed (HMAC with a key every replica shares) and bound to
 * the listing, the endpoint and the caller: a forged cursor, or one from another listing, endpoint or
 * caller, is -32602.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';

export interface CursorBinding {
  /** Shared by every replica; without one, a key for this process. */
  key?: Buffer;
  /** What the cursor is valid for: the listing method, the endpoint and the caller. */
  bind: string;
}

const PROCESS_KEY = randomBytes(32);
const MAX_CURSOR = 2048;
const invalid = () => new GatehouseError('E_INVALID_PARAMS', 'invalid params: unknown `cursor`');

function mac(b: CursorBinding, body: string): Buffer {
  return createHmac('sha256', b.key ?? PROCESS_KEY).update(JSON.stringify([b.bind, body])).digest();
}

function open(cursor: unknown, b: CursorBinding): string {
  if (typeof cursor !== 'string' || cursor.length > MAX_CURSOR) throw invalid();
  const m = /^c1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(cursor);
  if (!m) throw invalid();
  const given = Buffer.from(m[2], 'base64url');
  const want = mac(b, m[1]);
  if (given.length !== want.length || !timingSafeEqual(given, want)) throw invalid();
  const after = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')) as unknown;
  if (typeof after !== 'string') throw invalid();
  return after;
}

function seal(after: string, b: CursorBinding): string {
  const body = Buffer.from(JSON.stringify(after), 'utf8').toString('base64url');
  return `c1.${body}.${mac(b, body).toString('base64url')}`;
}

const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One page of `items`, ordered by `keyOf`, after the cursor's key. */
export function paginate<T extends JsonObject>(items: T[], cursor: unknown, pageSize: number, binding: CursorBinding, keyOf: (item: T) => string): { page: T[]; nextCursor?: string } {
  const sorted = items.map((item) => ({ item, key: keyOf(item) })).sort((x, y) => byKey(x.key, y.key));
  let start = 0;
  if (cursor !== undefined && cursor !== null) {
    const after = open(cursor, binding);
    start = sorted.findIndex((x) => x.key > after);
    if (start < 0) start = sorted.length;
  }
  const slice = sorted.slice(start, start + pageSize);
  const page = slice.map((x) => x.item);
  return start + pageSize < sorted.length ? { page, nextCursor: seal(slice[slice.length - 1].key, binding) } : { page };
}
