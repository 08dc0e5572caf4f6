import { requestStore, runWithRequestStore } from './request-store.js';

/** How a login attempt ended, the `outcome` label of `gatehouse_logins_total`. */
export type LoginOutcome = 'succeeded' | 'failed' | 'rate_limited';

/**
 * What the areas below the app report about the request in progress, for the metrics of the app
 * instance serving it (ops/metrics.ts opens one per request). Carried in the request's async
 * context, like the log context, so several servers in one process (tests) each count their own,
 * and nothing below app.ts imports the metrics library.
 */
export interface RequestObserver {
  /** The route template when no Koa router matched it (oidc-provider's routes, tenancy/mount.ts). */
  route(template: string): void;
  login(tenant: string, outcome: LoginOutcome): void;
  tokenIssued(tenant: string, grantType: string): void;
  rateLimited(limit: string): void;
}

export function withObserver<T>(observer: RequestObserver, fn: () => T): T {
  return runWithRequestStore({ observer }, fn);
}

/** The observer of the request in progress; undefined outside a request (the CLI, timers). */
export function observer(): RequestObserver | undefined {
  return requestStore()?.observer;
}
