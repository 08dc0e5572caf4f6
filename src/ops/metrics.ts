import type { ServerResponse } from 'node:http';
import type { Context, Middleware } from 'koa';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { withObserver, type LoginOutcome, type RequestObserver } from '../log/observe.js';

/** Methods a route label may carry; any other verb counts as OTHER, so a client cannot add series. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Requests no route served: unknown paths, unknown tenants, a tenant path no route takes. */
export const UNMATCHED = 'unmatched';

/**
 * The Prometheus series of one app instance (DESIGN.md "Operations"), in a registry of its own so
 * several servers in one process (the tests) keep their counts apart. Labels are bounded: routes
 * are templates (`/t/:tenant/token`), never a slug, an id or an interaction uid; statuses and
 * methods are finite; only the login and token counters carry the tenant, and no histogram does.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #requests = new Counter({
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'Time from receiving a request to the end of its answer, by route template, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly #logins = new Counter({
    name: 'gatehouse_logins_total',
    help: 'Login attempts on the password and code forms, by tenant and outcome (succeeded, failed, rate_limited).',
    labelNames: ['tenant', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #tokens = new Counter({
    name: 'gatehouse_tokens_issued_total',
    help: 'Successful token endpoint answers, by tenant and grant type.',
    labelNames: ['tenant', 'grant_type'] as const,
    registers: [this.registry],
  });
  readonly #rateLimited = new Counter({
    name: 'gatehouse_rate_limited_total',
    help: 'Requests refused by a rate limit, by limit (login_per_ip, login_per_account, client_auth_failures, mail_per_address, admin).',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor() {
    // Process (CPU, memory, file descriptors) and Node.js (event loop lag, heap, GC) defaults.
    collectDefaultMetrics({ register: this.registry });
    // Gauges whose names end in _total break Prometheus' naming rules (promtool check metrics says
    // so); each is the sum of nodejs_active_{handles,requests,resources}{type}, which stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
  }

  /** Counts every answer; the first middleware, so it sees the status of every other one. */
  middleware(): Middleware {
    return async (ctx, next) => {
      await withObserver(this.observe(ctx.res, ctx.method, () => routeTemplate(ctx)), next);
    };
  }

  /**
   * Starts counting one request (the middleware above, and tenancy/direct.ts): its observer, for the
   * request's async context. `route`: the template when oidc-provider named none.
   */
  observe(res: ServerResponse, method: string, route: () => string): RequestObserver {
    const started = process.hrtime.bigint();
    const observer = this.#observer();
    // Counted when the answer is written out (or the connection is gone): oidc-provider answers
    // on the raw response, after the Koa chain has returned. A response closes once: `on`, not
    // `once` and its wrapper.
    res.on('close', () => {
      const labels = { route: observer.providerRoute ?? route(), method: METHODS.has(method) ? method : 'OTHER', status: statusOf(res) };
      this.#requests.inc(labels);
      this.#duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
    return observer;
  }

  /**
   * A request's observer, made apart from the request's `ctx` (closures made beside it would share
   * its scope, and keep the whole request alive as long as the observer lives). The observer goes
   * into the request's async context, which Node 20 copies onto every timer and socket the request
   * starts, and some of those outlive it: a keep-alive connection's idle timer, set as the answer
   * ends, lives until that connection's next request or its timeout (5 s). A heap snapshot under
   * load showed each idle connection holding its last request (context, headers, answer) that way
   * (test/integration/ops/idle-connection-memory.test.ts).
   */
  #observer(): RequestObserver & { providerRoute?: string } {
    const observer: RequestObserver & { providerRoute?: string } = {
      route: (template) => void (observer.providerRoute = template),
      login: (tenant, outcome: LoginOutcome) => this.#logins.inc({ tenant, outcome }),
      tokenIssued: (tenant, grantType) => this.#tokens.inc({ tenant, grant_type: grantType }),
      rateLimited: (limit) => this.#rateLimited.inc({ limit }),
    };
    return observer;
  }

  /** The exposition (Prometheus text format 0.0.4). */
  async exposition() {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/**
 * The template of the Koa route that served the request, as @koa/router matched it: the tenant
 * routes' `/t/:slug` prefix reads `/t/:tenant`, as oidc-provider's routes do (events.ts).
 */
function routeTemplate(ctx: Context): string {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched !== 'string' || !matched.startsWith('/')) return UNMATCHED;
  const template = matched.replace(/^\/t\/:slug(?=\/|$)/, '/t/:tenant');
  return template.length > 1 ? template.replace(/\/+$/, '') : template;
}

/** The status sent; a client that went away before any answer counts as 499 (nginx's "client closed request"). */
function statusOf(res: ServerResponse) {
  return res.headersSent ? String(res.statusCode) : '499';
}
