import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { log, withLogContext } from './logger.js';

const WELL_FORMED_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Every request gets a request id (a well-formed X-Request-Id, else a new one), echoed back and
 * carried on every log line. Unexpected errors answer 500 with that id, never a stack trace.
 */
export function requestContext(): Middleware {
  return async (ctx, next) => {
    const requestId = requestIdOf(ctx.req.headers['x-request-id']);
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
          ctx.status = 500;
          ctx.body = requestFailed(err, ctx.method, path, requestId);
        }
      } finally {
        logCompleted(ctx.method, path, ctx.res.statusCode, started);
      }
    });
  };
}

/**
 * An unexpected error that reached the top of a request (here, and tenancy/direct.ts): logged with
 * its stack as `request.failed`; the answer's body (a 500) carries the request id and nothing of it.
 */
export function requestFailed(err: unknown, method: string, path: string, requestId: string) {
  const e = (err ?? {}) as Error;
  log().error('request.failed', { error: { name: e.name, message: e.message, stack: e.stack }, method, path });
  return { error: 'server_error', error_description: 'An unexpected error occurred.', request_id: requestId };
}

/** The request id: the client's X-Request-Id when well formed, else a new one. */
export function requestIdOf(incoming: string | string[] | undefined) {
  return typeof incoming === 'string' && WELL_FORMED_ID.test(incoming) ? incoming : randomUUID();
}

/** The `request.completed` line (level http). `started`: process.hrtime.bigint() at its arrival. */
export function logCompleted(method: string, path: string, status: number, started: bigint) {
  // winston formats a line before its transport drops it by level: ask first, it is every request.
  if (!log().isLevelEnabled('http')) return;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  log().http('request.completed', { method, path, status, ms: Math.round(ms * 10) / 10 });
}

/** A client that went away mid-request: nothing to fix on this side. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Koa's 'error' event of an app (Gatehouse's, and each tenant's oidc-provider): what fails outside
 * the middleware, such as a client resetting its connection while its request body is still
 * arriving. Koa's own handler prints such an error's stack as plain text among the JSON lines;
 * this logs one JSON line with the request id instead, a client that went away at `info`.
 * Attach it before the app's `callback()`: Koa adds its own handler there when none is attached.
 */
export function logAppErrors(app: { on(event: 'error', listener: (err: unknown, ctx?: Context) => void): unknown }) {
  app.on('error', (err, ctx) => {
    const e = (err ?? {}) as { name?: string; code?: string; message?: string; status?: number; expose?: boolean };
    if (e.status === 404 || e.expose) return; // as Koa's own handler: an answer, not a failure
    const gone = (e.code !== undefined && CLIENT_GONE.has(e.code)) || e.message === 'aborted' || e.message === 'request aborted';
    const fields = { method: ctx?.method, path: ctx?.originalUrl?.split('?')[0], request_id: ctx?.state?.requestId, error: { name: e.name, code: e.code, message: e.message } };
    if (gone) log().info('request.aborted', fields);
    else log().error('request.stream_failed', fields);
  });
}
