import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Config } from '../config/load.js';
import { log } from '../log/logger.js';
import { logCompleted, requestFailed, requestIdOf } from '../log/request.js';
import type { RequestObserver } from '../log/observe.js';
import { runWithRequestStore } from '../log/request-store.js';
import { settleClientAddress, trustedProxies } from '../security/client-address.js';
import { setSecurityHeaders } from '../security/headers.js';
import { isProtocolPath, providerEntrance } from './mount.js';
import type { TenantRegistry } from './registry.js';

/**
 * `/t/:slug/<protocol path>?query`, nothing else: the slug, the path under the issuer. A URL of any
 * other shape (an absolute form, a fragment) is left to Koa's parsing in the app.
 */
const PROTOCOL_URL = /^\/t\/([^/?#]+)(\/[^?#]*)?(?:\?[^#]*)?$/;

/** What the app's chain does for a request that belongs to ops/ (app.ts wires them: tenancy is below ops). */
export interface ChainParts {
  /** Starts the request's metrics (ops/metrics.ts), counted as `unmatched` unless the provider names its route. */
  observe(res: ServerResponse, method: string): RequestObserver;
}

/**
 * The server's request listener: a protocol request (token, discovery, JWKS, userinfo,
 * introspection...) of a tenant this node keeps built goes straight to the tenant's provider, as
 * to a bare oidc-provider, and everything else to Gatehouse's Koa app (`app`).
 *
 * For such a request the app's chain (app.ts) would only pass it on: no page, no outage to answer
 * (the tenant is known without the database) and no 404 (oidc-provider answers its own paths). What
 * the chain does on its way is done here in plain calls, in the same order: the metrics, the
 * request id and log line, the client address, the security headers and the mount (the drain is
 * the server's answer class, ops/ops.routes.ts).
 * It spares a second Koa context per request and the chain's async layers, whose promises each
 * run the request store's promise hook on Node 20 (docs/BENCHMARKS.md, twenty-seventh session).
 * A tenant not built yet, or a node whose change feed is down (each request then reads the
 * tenant), takes the app's way: the same answers (test/integration/tenancy/direct.test.ts).
 */
export function directProtocolRequests(registry: TenantRegistry, config: Config, ops: ChainParts, app: RequestListener): RequestListener {
  const trusted = trustedProxies(config.trustProxy);
  const enter = providerEntrance(config);
  return (req: IncomingMessage, res: ServerResponse) => {
    const match = PROTOCOL_URL.exec(req.url ?? '');
    const entry = match !== null && isProtocolPath(match[2] ?? '/') ? registry.built(match[1]) : undefined;
    if (!entry) return app(req, res);
    const observer = ops.observe(res, req.method ?? '');
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(req.headers['x-request-id']);
    const url = req.url!; // before the mount strips /t/:slug; its path (no query) only when logged
    res.setHeader('X-Request-Id', requestId);
    settleClientAddress(req, trusted);
    setSecurityHeaders(res);
    enter.forwarded(req);
    enter.mount(req, match![1]);
    runWithRequestStore({ log: { request_id: requestId }, observer }, () => {
      // In the request's context, which gives its log lines their request id.
      const path = () => url.split('?', 1)[0];
      const completed = () => logCompleted(req.method ?? '', path(), res.statusCode, started);
      const failed = (err: unknown) => {
        answerFailure(res, requestFailed(err, req.method ?? '', path(), requestId));
        completed();
      };
      try {
        // Koa's callback settles once the answer is written: oidc-provider answers its own errors,
        // and it fails only when its error handling itself does. The line of a completed request
        // is level http (off by default): no function to call then.
        void entry.handle(req, res).then(log().isLevelEnabled('http') ? completed : undefined, failed);
      } catch (err) {
        failed(err);
      }
    });
  };
}

/** The 500 of log/request.ts's requestContext, on the raw response; a response already begun is cut off. */
function answerFailure(res: ServerResponse, answer: object) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(answer);
  res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
}
