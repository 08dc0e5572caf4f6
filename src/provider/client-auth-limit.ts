import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { addressKey } from '../security/rate-limit.js';

/**
 * Routes that authenticate the client. Each one can test a guessed secret, so failures on any of
 * them count, and each refuses a client that is over the limit.
 */
const CLIENT_AUTH_ROUTES = new Set(['token', 'introspection', 'revocation', 'pushed_authorization_request', 'device_authorization', 'backchannel_authentication']);
const ERROR_EVENTS = ['grant.error', 'introspection.error', 'revocation.error', 'pushed_authorization_request.error', 'device_authorization.error', 'backchannel_authentication.error'];

/**
 * The answer over the limit: 429 with Retry-After and `invalid_client`. RFC 6749 §5.2 has no
 * code for "too many requests", and its codes are the ones the token, introspection (RFC 7662
 * §2.3) and revocation (RFC 7009 §2.2.1) endpoints answer with, so every client library
 * understands them. The refusal is about the client's authentication, so `invalid_client` is
 * the accurate one; `temporarily_unavailable` is only defined for the authorization endpoint,
 * and Gatehouse answers it for outages (DESIGN.md "Operations"), which a limit is not. The
 * description and the status tell the client to retry later rather than doubt its secret.
 */
export class TooManyClientAuthFailures extends errors.OIDCProviderError {
  constructor() {
    super(429, 'invalid_client');
    this.error_description = 'too many failed client authentications; retry later';
  }
}

interface Attempt {
  key: string[];
  failed: boolean;
}

const attemptOf = (ctx: KoaContextWithOIDC | undefined) => (ctx?.state as { clientAuthAttempt?: Attempt } | undefined)?.clientAuthAttempt;

/**
 * Tenant setting `rate_limits.client_auth_failures`: failed client authentications per
 * (client_id, source address). Only failures count, and a client is refused only from an address
 * with too many of them: a correct request under the limit always passes, and an attacker
 * elsewhere never locks the client out.
 *
 * The check sits in `Client.find`, which the provider calls with the presented client_id once it
 * has parsed the request and before it authenticates the client (the first lookup of the request
 * on these routes): the provider's own parsing of Basic, client_secret_post and client_assertion
 * decides which client it is, and an address over the limit gets no secret compared at all.
 */
export function limitClientAuthFailures(provider: Provider, tenant: Tenant, deps: Pick<Deps, 'rateLimits'>) {
  // The provider is rebuilt when the tenant changes (tenancy/registry.ts): these are the settings of the moment.
  const policy = tenant.settings.rate_limits.client_auth_failures;
  const find = provider.Client.find.bind(provider.Client);
  // Not async: on every token request, and a key this node knows clean needs no promise of its own.
  provider.Client.find = (id: string) => {
    const ctx = Provider.ctx as KoaContextWithOIDC | undefined;
    if (!ctx?.oidc || !CLIENT_AUTH_ROUTES.has(ctx.oidc.route) || ctx.oidc.entities.Client || attemptOf(ctx) || typeof id !== 'string') return find(id);
    const attempt: Attempt = { key: [id, addressKey(ctx.ip)], failed: false };
    (ctx.state as { clientAuthAttempt?: Attempt }).clientAuthAttempt = attempt;
    if (deps.rateLimits.knownClean(tenant.id, 'client_auth_failures', attempt.key, policy)) return find(id);
    return deps.rateLimits.peek(tenant.id, 'client_auth_failures', attempt.key, policy).then((verdict) => {
      if (!verdict.allowed) {
        ctx.set('Retry-After', String(verdict.retryAfterSeconds));
        throw new TooManyClientAuthFailures();
      }
      return find(id);
    });
  };
  for (const event of ERROR_EVENTS) {
    (provider as any).on(event, (ctx: KoaContextWithOIDC, err: unknown) => {
      const attempt = attemptOf(ctx);
      if (attempt && (err instanceof errors.InvalidClientAuth || err instanceof errors.InvalidClient)) attempt.failed = true;
    });
  }
  // Events carry no promise to wait for: the failure is counted here, before the answer leaves.
  // Not async (its promise and its await's, on every request): what follows `next` is rarely anything.
  provider.use((ctx, next) => next().then(() => {
    const attempt = attemptOf(ctx as KoaContextWithOIDC);
    if (attempt?.failed) return deps.rateLimits.penalty(tenant.id, 'client_auth_failures', attempt.key, policy);
  }));
}
