import type { Middleware } from 'koa';
import { isStorageUnavailable, unavailableDetails } from '../deps.js';
import { log } from '../log/logger.js';
import { RETRY_AFTER_SECONDS, unavailablePage } from '../provider/config/pages.js';
import { isOwnPath } from '../tenancy/mount.js';

/**
 * DESIGN.md "Operations": a database or Redis outage answers 503 (OAuth `temporarily_unavailable`
 * JSON, or a page saying to retry), never a 500 with a stack; the connections recover by themselves.
 * This catches what the tenant lookup and the interaction pages throw; the admin API writes its
 * own problem+json (admin/problem.ts) and oidc-provider's routes their own (provider/events.ts).
 */
export function answerStorageOutages(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!isStorageUnavailable(err)) throw err;
      log().warn('request.unavailable', { method: ctx.method, path: ctx.path, error: unavailableDetails(err) });
      ctx.status = 503;
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.set('Cache-Control', 'no-store');
      // The pages (sign-in, account, self-service, federation callbacks) answer with the retry
      // page unless the client asks for JSON alone; elsewhere JSON unless it asks for HTML.
      const underIssuer = /^\/t\/[^/]+(\/.*)$/.exec(ctx.path);
      const page = underIssuer !== null && isOwnPath(underIssuer[1]);
      if (page ? ctx.accepts('html', 'json') === 'html' : ctx.accepts('json', 'html') === 'html') {
        ctx.type = 'html';
        ctx.body = unavailablePage(ctx.state.requestId);
      } else {
        ctx.body = { error: 'temporarily_unavailable', error_description: 'the service cannot complete this request right now; retry shortly' };
      }
    }
  };
}
