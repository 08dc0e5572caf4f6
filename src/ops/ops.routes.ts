import type { ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Deps } from '../deps.js';
import { DEFAULT_METRICS_ALLOW } from '../config/load.js';
import { masterKeyOpensCheckValue } from '../domain/keys/master-key-check.js';
import { trustedProxies } from '../security/client-address.js';
import type { Metrics } from './metrics.js';

/** Each check of /readyz gets this long, so the answer comes within 1 s whatever hangs (DESIGN.md "Operations"). */
const CHECK_TIMEOUT_MS = 800;

/** Set by the stop handler (main.ts): from then on /readyz answers 503 and connections close after their answer. */
export class Readiness {
  draining = false;
  /** Answers not yet sent: told to close their connection when draining starts. */
  readonly #inFlight = new Set<ServerResponse>();

  /** A request arriving: told to close its connection when draining, else tracked until answered. */
  admit(res: ServerResponse) {
    if (this.draining) res.setHeader('Connection', 'close');
    else this.track(res);
  }

  track(res: ServerResponse) {
    this.#inFlight.add(res);
    res.on('close', () => this.#inFlight.delete(res)); // closes once (metrics.ts)
  }

  drain() {
    this.draining = true;
    // A request in flight finishes, but its keep-alive connection must not outlive it. Set on the
    // raw response, so oidc-provider's answers (written past Koa, tenancy/mount.ts) carry it too.
    for (const res of this.#inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    this.#inFlight.clear();
  }
}

function within<T>(promise: Promise<T>, ms: number, otherwise: T): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(otherwise), ms);
  });
  return Promise.race([promise.catch(() => otherwise), late]).finally(() => clearTimeout(timer));
}

/** While draining, every answer closes its keep-alive connection, so the server can close once requests finish. */
export function closeConnectionsWhenDraining(readiness: Readiness): Middleware {
  // Not async (security/headers.ts says why).
  return (ctx, next) => {
    readiness.admit(ctx.res);
    return next();
  };
}

/**
 * /healthz: the process answers. /readyz: Postgres, the kv store and the master key check answer,
 * and not draining (`master_key` null when Postgres could not be asked). /metrics: the Prometheus exposition, to METRICS_ALLOW peers only (the client
 * address as TRUST_PROXY decides it, security/client-address.ts), else 403.
 */
export function opsRoutes(deps: Deps, readiness: Readiness, metrics: Metrics) {
  const router = new Router();
  const mayReadMetrics = trustedProxies(deps.config.metricsAllow ?? DEFAULT_METRICS_ALLOW);
  router.get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (!mayReadMetrics(ctx.ip)) {
      ctx.status = 403;
      ctx.body = { error: 'forbidden', error_description: 'metrics are only served to the addresses in METRICS_ALLOW' };
      return;
    }
    const { contentType, text } = await metrics.exposition();
    ctx.type = contentType;
    ctx.body = text;
  });
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const [postgres, kv, masterKey] = await Promise.all([
      within(deps.db.raw('select 1').then(() => true), CHECK_TIMEOUT_MS, false),
      within(deps.kv.ping(), CHECK_TIMEOUT_MS, false),
      // null: not known (PostgreSQL, where the check value is, did not answer), not a wrong key.
      within<boolean | null>(masterKeyOpensCheckValue(deps), CHECK_TIMEOUT_MS, null),
    ]);
    const ready = postgres && kv && masterKey === true && !readiness.draining;
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: readiness.draining ? 'draining' : ready ? 'ready' : 'unavailable', checks: { postgres, kv, master_key: masterKey }, draining: readiness.draining };
  });
  return router;
}
