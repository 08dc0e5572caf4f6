import type { Middleware } from 'koa';
import { Problem } from './problem.js';

/** True when a string anywhere in a JSON value holds U+0000. */
function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 32 || value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([k, v]) => k.includes('\u0000') || holdsNul(v, depth + 1));
}

/**
 * PostgreSQL text cannot hold U+0000, so a NUL in a path, query or body would fail in the
 * database. It is refused here, before any lookup, as the client's error it is.
 */
export function refuseNulText(): Middleware {
  return async (ctx, next) => {
    const where = /%00/.test(ctx.path) ? 'path' : holdsNul(ctx.query) ? 'query' : holdsNul(ctx.request.body) ? 'body' : undefined;
    if (where) throw new Problem(400, 'invalid_request', `The request ${where} contains a NUL character.`, [{ field: `(${where})`, message: 'NUL characters are not allowed' }]);
    await next();
  };
}
