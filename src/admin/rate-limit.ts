import type { Deps } from '../deps.js';
import type { AdminPrincipal } from './access.js';
import { Problem } from './problem.js';

/**
 * Requests per principal (a client or a user, of any tenant) to the admin API, on every node
 * together when the kv store is Redis. Generous: it stops a runaway script, not an admin.
 * `config.adminRateLimit` replaces it.
 */
export const ADMIN_RATE_LIMIT = { limit: 600, window_seconds: 60 };

/** Counts one request of an authenticated principal; over the limit a 429 problem with Retry-After. */
export async function limitAdminPrincipal(deps: Pick<Deps, 'config' | 'rateLimits'>, principal: AdminPrincipal) {
  const policy = deps.config.adminRateLimit ?? ADMIN_RATE_LIMIT;
  const verdict = await deps.rateLimits.consume(principal.tenant.id, 'admin', [`${principal.kind}:${principal.id}`], policy);
  if (!verdict.allowed) {
    throw new Problem(429, 'rate_limited', 'Too many requests from this principal; retry later.', undefined, { 'Retry-After': String(verdict.retryAfterSeconds) });
  }
}
