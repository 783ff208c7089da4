import { HttpError } from '../http-errors.js';

/**
 * The history cursor: the position (createdAt, id) of the last item of a page, opaque to the
 * client. Pages are ordered newest first by (createdAt, _id), a total order, so notifications
 * stored while a client pages land before its first page or in their place, never twice.
 */
export interface Position {
  createdAtMs: number;
  id: string;
}

export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.createdAtMs, p.id])).toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  try {
    const [createdAtMs, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    // A time a Date can hold (±8.64e15 ms): past it the query's date would be invalid, a 500.
    if (typeof createdAtMs === 'number' && !Number.isNaN(new Date(createdAtMs).getTime()) && typeof id === 'string')
      return { createdAtMs, id };
  } catch {
    // falls through to the 400 below
  }
  throw new HttpError(400, 'validation_failed', 'invalid cursor', {
    details: [{ field: 'before', message: '"before" must be a cursor returned by a previous page' }],
  });
}

/** Strictly older than the position in (createdAt desc, _id desc) order. */
export function olderThan(p: Position) {
  const at = new Date(p.createdAtMs);
  return { $or: [{ createdAt: { $lt: at } }, { createdAt: at, _id: { $lt: p.id } }] };
}
