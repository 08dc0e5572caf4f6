import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Config } from '../config/load.js';
import { VERSION } from '../config/version.js';
import { logContext } from '../log/logger.js';
import { isProtocolPath, UnknownTenantError } from '../tenancy/mount.js';
import { text } from '../views/text/index.js';
import { renderPage } from '../views/render.js';

/** What `GET /` names: the instance, its version, where to read on, how tenants are found. */
function about(config: Config) {
  return {
    name: 'Gatehouse',
    public_url: config.publicUrl,
    version: VERSION,
    docs: 'docs/README.md in the Gatehouse repository (npx gatehouse --help for the CLI)',
    discovery_pattern: `${config.publicUrl}/t/{slug}/.well-known/openid-configuration`,
    admin_api: `${config.publicUrl}/admin/v1`,
    openapi: `${config.publicUrl}/admin/v1/openapi.json`,
  };
}

/** `GET /`: a small page for people, JSON for `Accept: application/json`. Tenants are never listed. */
export function frontDoorRoutes(config: Config) {
  const router = new Router();
  router.get('/', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.body = about(config);
      return;
    }
    ctx.type = 'html';
    ctx.body = renderPage('home', { title: text.home.title, ...about(config) });
  });
  return router;
}

/**
 * One 404 per surface (DESIGN.md: problem+json on the admin API, RFC-style errors on the
 * protocol): the admin API answers its own; a browser asking for a page gets a page; protocol
 * paths under an issuer, and every client that does not prefer HTML, get `{error, error_description}`.
 */
export function notFound(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof UnknownTenantError)) throw err;
      answer(ctx, err.message);
      return;
    }
    // oidc-provider writes its answers itself (respond = false); an answered request has a body.
    if (ctx.respond === false || ctx.body != null || ctx.status !== 404) return;
    answer(ctx, 'There is nothing at this address.');
  };
}

function answer(ctx: Context, detail: string) {
  ctx.status = 404;
  if (ctx.path === '/admin' || ctx.path.startsWith('/admin/')) {
    ctx.type = 'application/problem+json';
    // The admin API's own problem shape (admin/problem.ts), for paths next to it.
    ctx.body = { type: 'urn:gatehouse:problem:not_found', title: 'Not Found', status: 404, detail: 'The admin API has no such route; it lives at /admin/v1.', code: 'not_found' };
    return;
  }
  const underIssuer = /^\/t\/[^/]+(\/.*)?$/.exec(ctx.path);
  const protocol = underIssuer ? isProtocolPath(underIssuer[1] ?? '/') : false;
  if (!protocol && ctx.method === 'GET' && ctx.accepts('json', 'html') === 'html') {
    ctx.type = 'html';
    ctx.body = renderPage('error', { title: text.notFound.title, heading: text.notFound.heading, message: detail, home: text.notFound.home, requestId: logContext()?.request_id });
    return;
  }
  ctx.body = { error: 'not_found', error_description: detail };
}
