import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { log, withLogContext } from './logger.js';

const WELL_FORMED_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Every request gets a request id (a well-formed X-Request-Id, else a new one), echoed back and
 * carried on every log line. Unexpected errors answer 500 with that id, never a stack trace.
 */
export function requestContext(): Middleware {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = WELL_FORMED_ID.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', requestId);
    ctx.state.requestId = requestId;
    const started = process.hrtime.bigint();
    const path = ctx.path; // before tenancy/mount.ts strips /t/:slug for the provider
    await withLogContext({ request_id: requestId }, async () => {
      try {
        await next();
      } catch (err) {
        const e = err as { status?: number; expose?: boolean; message?: string };
        if (e.status && e.status < 500 && e.expose) {
          ctx.status = e.status;
          ctx.body = { error: 'invalid_request', error_description: e.message };
        } else {
          log().error('request.failed', { error: { name: (err as Error).name, message: (err as Error).message, stack: (err as Error).stack }, method: ctx.method, path });
          ctx.status = 500;
          ctx.body = { error: 'server_error', error_description: 'An unexpected error occurred.', request_id: requestId };
        }
      } finally {
        // winston formats a line before its transport drops it by level: ask first, it is every request.
        if (log().isLevelEnabled('http')) {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          log().http('request.completed', { method: ctx.method, path, status: ctx.res.statusCode, ms: Math.round(ms * 10) / 10 });
        }
      }
    });
  };
}
