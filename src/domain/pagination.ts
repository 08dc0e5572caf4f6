/**
 * Keyset pages as the admin API answers them, `{ items, next_cursor }` (DESIGN.md "Admin API"),
 * shared with the CLI's list commands so both print the same shape.
 */

/** Opaque keyset cursor: base64url JSON of the last item's sort key. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url');
}

/** The sort key inside a cursor; throws when the text is not one encodeCursor made. */
export function decodeCursorKey(cursor: string): unknown {
  const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown } | null;
  if (typeof decoded !== 'object' || decoded === null || !('k' in decoded)) throw new Error('not a cursor');
  return decoded.k;
}

/** Callers fetch limit + 1 rows; the extra row only says that there is a next page. */
export function page<R, T>(rows: R[], limit: number, keyOf: (row: R) => unknown, present: (row: R) => T) {
  const items = rows.slice(0, limit);
  const more = rows.length > limit;
  return { items: items.map(present), next_cursor: more ? encodeCursor(keyOf(items[items.length - 1])) : null };
}
