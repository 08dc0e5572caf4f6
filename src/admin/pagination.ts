import { z } from 'zod';
import { Problem } from './problem.js';
import { holdsUnstorableText } from './text-guard.js';
import { decodeCursorKey } from '../domain/pagination.js';

export { encodeCursor, page } from '../domain/pagination.js';

/** `?limit=&cursor=` of every list (DESIGN.md "Admin API"). */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('Items per page'),
  cursor: z.string().max(1024).optional().describe('The next_cursor of the previous page'),
});

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = decodeCursorKey(cursor);
    if (holdsUnstorableText(key)) throw new Error('unstorable cursor');
    return schema.parse(key);
  } catch {
    throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API issued.', [{ field: 'cursor', message: 'invalid cursor' }]);
  }
}
