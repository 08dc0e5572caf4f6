import type { Middleware } from 'koa';
import { Problem } from './problem.js';

/** U+0000, or a lone surrogate (not UTF-8 encodable: PostgreSQL's jsonb refuses it). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when a string anywhere in a JSON value cannot be stored as text. */
export function holdsUnstorableText(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  if (depth > 32 || value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([k, v]) => UNSTORABLE.test(k) || holdsUnstorableText(v, depth + 1));
}

/**
 * PostgreSQL text cannot hold U+0000, so a NUL in a path, query or body would fail in the
 * database. It is refused here, before any lookup, as the client's error it is.
 */
export function refuseNulText(): Middleware {
  return async (ctx, next) => {
    const where = /%00/.test(ctx.path) ? 'path' : holdsUnstorableText(ctx.query) ? 'query' : holdsUnstorableText(ctx.request.body) ? 'body' : undefined;
    if (where) throw new Problem(400, 'invalid_request', `The request ${where} contains a NUL character or a lone surrogate.`, [{ field: `(${where})`, message: 'text must be valid Unicode without NUL characters' }]);
    await next();
  };
}
