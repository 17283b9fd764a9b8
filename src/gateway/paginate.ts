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

/** Items with the digests of their keys, in the same order (what `paginateKeyed` pages through). */
export interface KeyedItems<T> {
  items: readonly T[];
  keys: readonly string[];
}

/** The digests of the items' keys, as cursors remember them. */
export function keyDigests<T>(items: readonly T[], keyOf: (item: T) => string): string[] {
  return items.map((item) => digest(keyOf(item)));
}

/** Where each digest last occurs, built once per keys array (a cached listing keeps its array). */
const lastIndexes = new WeakMap<readonly string[], Map<string, number>>();

function lastIndexOf(keys: readonly string[], k: string): number {
  let index = lastIndexes.get(keys);
  if (!index) {
    index = new Map();
    for (let i = 0; i < keys.length; i++) index.set(keys[i], i);
    lastIndexes.set(keys, index);
  }
  return index.get(k) ?? -1;
}

/** One page of `items` (in their order), after the items the cursor says were shown. */
export function paginate<T extends JsonObject>(
  items: T[],
  cursor: unknown,
  pageSize: number,
  binding: CursorBinding,
  keyOf: (item: T) => string,
): { page: T[]; nextCursor?: string } {
  return paginateKeyed({ items, keys: keyDigests(items, keyOf) }, cursor, pageSize, binding);
}

/** `paginate` over items whose key digests are already known. */
export function paginateKeyed<T extends JsonObject>(
  { items, keys }: KeyedItems<T>,
  cursor: unknown,
  pageSize: number,
  binding: CursorBinding,
): { page: T[]; nextCursor?: string } {
  let start = 0;
  let shown = 0;
  let seen: string[] = [];
  if (cursor !== undefined && cursor !== null) {
    const at = open(cursor, binding);
    shown = at.o;
    seen = at.k;
    start = Math.min(at.o, items.length);
    for (let i = at.k.length - 1; i >= 0; i--) {
      const found = lastIndexOf(keys, at.k[i]);
      if (found >= 0) {
        start = found + 1;
        break;
      }
    }
  }
  const page = items.slice(start, start + pageSize);
  if (start + pageSize >= items.length) return { page };
  // The last REMEMBERED of what was seen and this page's keys, without copying the whole page's keys.
  const end = start + page.length;
  const tail = keys.slice(Math.max(start, end - REMEMBERED), end);
  const k = [...seen.slice(Math.max(0, seen.length - (REMEMBERED - tail.length))), ...tail];
  return { page, nextCursor: seal({ o: shown + page.length, k }, binding) };
}
