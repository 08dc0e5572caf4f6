import { ServerResponse, type IncomingMessage } from 'node:http';
import Router from '@koa/router';
import type { Deps } from '../deps.js';
import { DEFAULT_METRICS_ALLOW } from '../config/load.js';
import { masterKeyOpensCheckValue } from '../domain/keys/master-key-check.js';
import { trustedProxies } from '../security/client-address.js';
import type { Metrics } from './metrics.js';

/** Each check of /readyz gets this long, so the answer comes within 1 s whatever hangs (DESIGN.md "Operations"). */
const CHECK_TIMEOUT_MS = 800;

/**
 * The node's own part of /readyz. `starting` until startGatehouse (app.ts) has ensured the system
 * tenant, the signing keys and the bootstrap admins: the node listens before that (PUBLIC_URL may
 * need its port), and a balancer or a script must not send it requests those would fail.
 * `draining`, set by the stop handler (main.ts): from then on /readyz answers 503 and connections
 * close after their answer.
 */
export class Readiness {
  starting = true;
  draining = false;

  started() {
    this.starting = false;
  }

  drain() {
    this.draining = true;
  }

  /**
   * The class of the server's answers (app.ts hands it to createServer): once draining, an answer
   * whose head is not written yet says `Connection: close`, so a request in flight finishes but
   * its keep-alive connection does not outlive it. The head is where every answer passes, Koa's
   * and oidc-provider's (written on the raw response, tenancy/mount.ts), those begun before the
   * drain and those after.
   *
   * Not a set of the answers in flight, as until the twenty-ninth session: a long-lived Set that
   * every request enters and leaves rehashes every few requests, and V8 allocates the new table
   * of an old one in the old generation and leaves the answers of the moment in the table it
   * replaces. Each such table, dead but in the old generation, kept its answers, and through them
   * their whole requests, alive through minor GCs until the next major one: under token load
   * most requests were promoted (docs/BENCHMARKS.md, twenty-ninth session).
   */
  responseClass(): typeof ServerResponse {
    const readiness = this;
    return class DrainingResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
      override writeHead(...args: unknown[]): this {
        if (readiness.draining && !this.headersSent) this.setHeader('Connection', 'close');
        return Reflect.apply(ServerResponse.prototype.writeHead, this, args) as this;
      }
    };
  }
}

function within<T>(promise: Promise<T>, ms: number, otherwise: T): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(otherwise), ms);
  });
  return Promise.race([promise.catch(() => otherwise), late]).finally(() => clearTimeout(timer));
}

/**
 * /healthz: the process answers. /readyz: Postgres, the kv store and the master key check answer,
 * the start is done and not draining (`master_key` null when Postgres could not be asked). /metrics: the Prometheus exposition, to METRICS_ALLOW peers only (the client
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
    const ready = postgres && kv && masterKey === true && !readiness.starting && !readiness.draining;
    ctx.status = ready ? 200 : 503;
    const status = readiness.draining ? 'draining' : readiness.starting ? 'starting' : ready ? 'ready' : 'unavailable';
    ctx.body = { status, checks: { postgres, kv, master_key: masterKey }, starting: readiness.starting, draining: readiness.draining };
  });
  return router;
}
