import type { ServerResponse } from 'node:http';
import type { Middleware } from 'koa';

/**
 * DESIGN.md "Interaction pages": no page may be framed (clickjacking on the password form) and
 * none runs inline script. Set before anything answers, so oidc-provider's own pages get them too:
 * its form_post page adds the hash of its one script to `script-src` (helpers/script_src_sha.js).
 * Styles are the layout's inline block; images are the inline QR code. `form-action` is left out:
 * browsers apply it to the redirect to the client after a form, which would break every login.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/**
 * Not an async function: a middleware with nothing to do after `next()` hands its promise on.
 * Each async layer makes a promise of its own and one more for its `await`, on every request, and
 * on Node 20 each promise made runs the promise hook of AsyncLocalStorage (log/request-store.ts).
 */
export function securityHeaders(): Middleware {
  return (ctx, next) => {
    setSecurityHeaders(ctx.res);
    return next();
  };
}

/** The headers above, on the raw response (also for tenancy/direct.ts, which passes Koa by). */
export function setSecurityHeaders(res: ServerResponse) {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
}
