import { z } from 'zod';
import { Problem } from './problem.js';
import { holdsUnstorableText } from './text-guard.js';

/** `?limit=&cursor=` of every list (DESIGN.md "Admin API"). */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('Items per page'),
  cursor: z.string().max(1024).optional().describe('The next_cursor of the previous page'),
});

/** Opaque keyset cursor: base64url JSON of the last item's sort key. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')).k;
    if (holdsUnstorableText(key)) throw new Error('unstorable cursor');
    return schema.parse(key);
  } catch {
    throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API issued.', [{ field: 'cursor', message: 'invalid cursor' }]);
  }
}

/** Callers fetch limit + 1 rows; the extra row only says that there is a next page. */
export function page<R, T>(rows: R[], limit: number, keyOf: (row: R) => unknown, present: (row: R) => T) {
  const items = rows.slice(0, limit);
  const more = rows.length > limit;
  return { items: items.map(present), next_cursor: more ? encodeCursor(keyOf(items[items.length - 1])) : null };
}
