/**
 * Cursor pagination of catalogue listings, in the catalogue's own order (servers in config order, each
 * server's items in its order: clients may rely on it). A page starts after the last item the caller
 * saw, found again by its key (name, or URI), so a listing that changes between two pages neither
 * repeats nor skips what was there all along. The cursor remembers the last few keys seen (as short
 * digests), so the walk goes on even when the very last one was removed. It is sealed (HMAC with a key
 * every replica shares) and bound to the listing, the endpoint and the caller: a forged cursor, or one
 * from another listing, endpoint or caller, is -32602.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hmacSha256, sameBytes } from '../util/hmac.ts';
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
  return hmacSha256(b.key ?? PROCESS_KEY, JSON.stringify([b.bind, body]));
}

/** The last keys a cursor remembers, and how it names them. */
const REMEMBERED = 32;
const digest = (key: string) => createHash('sha256').update(key).digest('base64url').slice(0, 12);

interface Position {
  /** Items shown so far (where to go on when none of the remembered keys is left). */
  o: number;
  /** Digests of the last keys shown, oldest first. */
  k: string[];
}

function open(cursor: unknown, b: CursorBinding): Position {
  if (typeof cursor !== 'string' || cursor.length > MAX_CURSOR) throw invalid();
  const m = /^c1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(cursor);
  if (!m) throw invalid();
  const given = Buffer.from(m[2], 'base64url');
  const want = mac(b, m[1]);
  if (!sameBytes(given, want)) throw invalid();
  const at = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')) as Partial<Position>;
  if (
    !Number.isInteger(at?.o) ||
    (at.o as number) < 0 ||
    !Array.isArray(at.k) ||
    !at.k.every((x) => typeof x === 'string')
  )
    throw invalid();
  return at as Position;
}

function seal(at: Position, b: CursorBinding): string {
  const body = Buffer.from(JSON.stringify(at), 'utf8').toString('base64url');
  return `c1.${body}.${mac(b, body).toString('base64url')}`;
}

/** One page of `items` (in their order), after the items the cursor says were shown. */
export function paginate<T extends JsonObject>(
  items: T[],
  cursor: unknown,
  pageSize: number,
  binding: CursorBinding,
  keyOf: (item: T) => string,
): { page: T[]; nextCursor?: string } {
  const keys = items.map((item) => digest(keyOf(item)));
  let start = 0;
  let shown = 0;
  let seen: string[] = [];
  if (cursor !== undefined && cursor !== null) {
    const at = open(cursor, binding);
    shown = at.o;
    seen = at.k;
    start = Math.min(at.o, items.length);
    for (let i = at.k.length - 1; i >= 0; i--) {
      const found = keys.lastIndexOf(at.k[i]);
      if (found >= 0) {
        start = found + 1;
        break;
      }
    }
  }
  const page = items.slice(start, start + pageSize);
  if (start + pageSize >= items.length) return { page };
  const k = [...seen, ...keys.slice(start, start + pageSize)].slice(-REMEMBERED);
  return { page, nextCursor: seal({ o: shown + page.length, k }, binding) };
}
