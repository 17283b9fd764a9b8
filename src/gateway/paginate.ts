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
  /** Where a listing that does not change keeps its pages (by first index): the same page, the same array. */
  pages?: Map<number, T[]>;
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
  { items, keys, pages }: KeyedItems<T>,
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
  const page = pageAt(items, start, pageSize, pages);
  if (start + pageSize >= items.length) return { page };
  // The last REMEMBERED of what was seen and this page's keys, without copying the whole page's keys.
  const end = start + page.length;
  const tail = keys.slice(Math.max(start, end - REMEMBERED), end);
  const k = [...seen.slice(Math.max(0, seen.length - (REMEMBERED - tail.length))), ...tail];
  return { page, nextCursor: seal({ o: shown + page.length, k }, binding) };
}

/** Pages of listings that do not change: frozen, and serialised once (`messageChunks`). */
const pageBytes = new WeakMap<readonly JsonObject[], Buffer>();
const sharedPages = new WeakSet<readonly JsonObject[]>();

function pageAt<T extends JsonObject>(items: readonly T[], start: number, size: number, pages?: Map<number, T[]>): T[] {
  if (!pages) return items.slice(start, start + size);
  const key = start * 2 ** 20 + size;
  let page = pages.get(key);
  if (!page) {
    page = Object.freeze(items.slice(start, start + size)) as T[];
    sharedPages.add(page);
    pages.set(key, page);
  }
  return page;
}

/**
 * `JSON.stringify(msg)` as UTF-8, the same bytes in order, with the pages of listings that do not
 * change (frozen, kept by their listing) serialised and encoded once: a page of 500 tool definitions
 * is the bulk of a listing's answer, and serialising, measuring and encoding it was most of what
 * answering cost. The chunks are not joined: a page's bytes go to the socket as they are kept (one
 * `writev` with the text around them) instead of a copy per answer (60 KB for 200 tools, memory
 * outside V8's heap that counts towards its full collections).
 * Only the message and its result are walked here; everything else is `JSON.stringify`.
 */
export function messageChunks(msg: unknown): Buffer[] {
  const parts: Array<string | Buffer> = [];
  put(msg, 0, parts);
  const chunks: Buffer[] = [];
  let text = '';
  for (const p of parts) {
    if (typeof p === 'string') text += p;
    else {
      if (text) chunks.push(Buffer.from(text));
      chunks.push(p);
      text = '';
    }
  }
  if (text || !chunks.length) chunks.push(Buffer.from(text));
  return chunks;
}

/**
 * What a listener writes for `msg`: the chunks of `messageChunks` when its result holds a kept page
 * (a listing), else `JSON.stringify`'s text, so other answers (tools/call) pay no walk for it.
 */
export function messageBody(msg: unknown): string | Buffer[] {
  const result = (msg as { result?: unknown } | null)?.result;
  if (result && typeof result === 'object')
    for (const v of Object.values(result)) if (Array.isArray(v) && sharedPages.has(v)) return messageChunks(msg);
  return JSON.stringify(msg);
}

/** Appends `v`'s JSON to `out`; false (nothing appended) where JSON.stringify leaves a member out. */
function put(v: unknown, depth: number, out: Array<string | Buffer>): boolean {
  if (Array.isArray(v) && sharedPages.has(v)) {
    let bytes = pageBytes.get(v);
    if (!bytes) {
      bytes = Buffer.from(JSON.stringify(v));
      pageBytes.set(v, bytes);
    }
    out.push(bytes);
    return true;
  }
  if (depth >= 2 || !v || typeof v !== 'object' || Array.isArray(v) || typeof (v as JsonObject).toJSON === 'function') {
    const text = JSON.stringify(v) as string | undefined;
    if (text === undefined) return false;
    out.push(text);
    return true;
  }
  out.push('{');
  let first = true;
  for (const [k, x] of Object.entries(v)) {
    const member: Array<string | Buffer> = [];
    if (!put(x, depth + 1, member)) continue;
    out.push(`${first ? '' : ','}${JSON.stringify(k)}:`, ...member);
    first = false;
  }
  out.push('}');
  return true;
}
