/** Cursor pagination of catalogue listings. Cursors are opaque to clients; a bad one is -32602. */
import { GatehouseError } from '../protocol/errors.ts';

export function paginate<T>(items: T[], cursor: unknown, pageSize: number): { page: T[]; nextCursor?: string } {
  let offset = 0;
  if (cursor !== undefined && cursor !== null) {
    const decoded = typeof cursor === 'string' && /^o[0-9]{1,9}$/.test(Buffer.from(cursor, 'base64url').toString('latin1'))
      ? Number(Buffer.from(cursor, 'base64url').toString('latin1').slice(1))
      : NaN;
    if (!Number.isInteger(decoded) || decoded < 0) throw new GatehouseError('E_INVALID_PARAMS', 'invalid params: unknown `cursor`');
    offset = decoded;
  }
  const page = items.slice(offset, offset + pageSize);
  const next = offset + pageSize;
  return next < items.length ? { page, nextCursor: Buffer.from(`o${next}`, 'latin1').toString('base64url') } : { page };
}
