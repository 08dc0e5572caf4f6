import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { recordAuditOrKeep } from '../audit/outbox.js';
import type { Context } from 'koa';
import { isDbUnavailable } from '../db/unavailable.js';
import { isStorageUnavailable, unavailableDetails, type Deps } from '../deps.js';
import { enforceSessionLimit } from '../domain/sessions/sessions.service.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { log, logContext } from '../log/logger.js';
import { observer } from '../log/observe.js';
import { accountOfGrant } from './adapters/postgres.js';
import { logBackchannelFailure, logBackchannelSent } from './backchannel-logout.js';
import { renderError, RETRY_AFTER_SECONDS, unavailablePage } from './config/pages.js';

/** What happened during one provider request that Gatehouse acts on once it is done. */
interface Outcome {
  revoked: string[];
  grantRevoked: boolean;
  /** The grant a reused code or refresh token took down (its row keeps the account once ended). */
  revokedGrantId?: string;
  session?: { uid: string; accountId: string };
}

const outcomeOf = (ctx: KoaContextWithOIDC | undefined): Outcome | undefined => (ctx?.state as { gatehouse?: Outcome } | undefined)?.gatehouse;

/** Provider events go to logs, and those that are audit events to the trail before the answer leaves. */

const subjectOfAccount = (accountId: string | undefined) => (accountId ? (`user:${accountId}` as const) : null);
export function forwardProviderEvents(provider: Provider, tenant: Tenant, deps: Deps) {
  provider.on('server_error', (ctx, err) => {
    if (isStorageUnavailable(err)) {
      // Emitted once the error handler has written its answer: make it a 503 the client may retry.
      answerUnavailable(ctx);
      log().warn('provider.unavailable', { tenant: tenant.slug, route: ctx.oidc?.route, error: unavailableDetails(err) });
      return;
    }
    log().error('provider.server_error', { tenant: tenant.slug, error: { name: err.name, message: err.message, stack: err.stack } });
  });
  for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'authorization.error', 'end_session.error', 'userinfo.error']) {
    (provider as any).on(event, (_ctx: unknown, err: { error?: string; error_description?: string }) => {
      log().info('oidc.request_refused', { tenant: tenant.slug, event, error: err.error, description: err.error_description });
    });
  }
  // RP-initiated logout's deliveries (end_session), logged as those of sessions Gatehouse ends.
  (provider as any).on('backchannel.success', (_ctx: unknown, client: { clientId: string }, accountId: string) => logBackchannelSent(tenant, client.clientId, accountId));
  (provider as any).on('backchannel.error', (_ctx: unknown, err: unknown, client: { clientId: string } | undefined, accountId: string) => logBackchannelFailure(tenant, client?.clientId, accountId, err));
  // Events carry no promise to wait for: they note what happened, the middleware below records it.
  for (const kind of ['access_token', 'refresh_token', 'client_credentials']) {
    (provider as any).on(`${kind}.destroyed`, () => {
      const outcome = outcomeOf(Provider.ctx as KoaContextWithOIDC | undefined);
      if (outcome) outcome.revoked.push(kind);
    });
  }
  // A token endpoint answer with tokens: gatehouse_tokens_issued_total{tenant,grant_type}. The
  // grant type is one the provider accepted, so the label stays within its grant types.
  provider.on('grant.success', (ctx) => {
    observer()?.tokenIssued(tenant.slug, String((ctx as KoaContextWithOIDC).oidc?.params?.grant_type ?? 'unknown'));
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    const outcome = outcomeOf(ctx as KoaContextWithOIDC);
    if (!outcome) return;
    outcome.grantRevoked = true;
    if (typeof grantId === 'string') outcome.revokedGrantId = grantId;
  });
  const limit = tenant.settings.max_sessions_per_user;
  if (limit > 0) {
    provider.on('session.saved', (session) => {
      const outcome = outcomeOf(Provider.ctx as KoaContextWithOIDC | undefined);
      // Only a login makes a session count anew; later saves of it change nothing.
      const fresh = Date.now() / 1000 - Number(session.loginTs ?? 0) < 60;
      if (outcome && fresh && session.accountId && session.uid) outcome.session = { uid: session.uid, accountId: session.accountId };
    });
  }

  // Not async, and recordOutcome only called with something to record: on every provider request,
  // each async layer adds promises (tenancy/direct.ts), and a token grant records nothing.
  provider.use((ctx, next) => {
    const outcome: Outcome = { revoked: [], grantRevoked: false };
    (ctx.state as { gatehouse?: Outcome }).gatehouse = outcome;
    return withUnavailableAnswered(ctx, tenant, next).then(
      () => {
        reportRoute(ctx);
        if (!hasOutcome(ctx as KoaContextWithOIDC, outcome)) return;
        return withUnavailableAnswered(ctx, tenant, () => recordOutcome(ctx as KoaContextWithOIDC, outcome, tenant, deps, limit));
      },
      (err: unknown) => {
        reportRoute(ctx);
        // oidc-provider cannot persist the session a device-verification POST without a prior GET
        // (no session yet) touched, and throws after its error handling: that request is a 400.
        if (!(err instanceof TypeError) || (ctx as KoaContextWithOIDC).oidc?.route !== 'code_verification') throw err;
        ctx.status = 400;
        return renderError(ctx as KoaContextWithOIDC, { error: 'invalid_request', error_description: 'the verification form expired; open the verification page again' });
      },
    );
  });
}

/** Whether recordOutcome has anything to do for this request. */
function hasOutcome(ctx: KoaContextWithOIDC, outcome: Outcome) {
  const route = ctx.oidc?.route;
  return (route === 'revocation' && outcome.revoked.length > 0) || (route === 'token' && outcome.grantRevoked) || outcome.session !== undefined;
}

/**
 * The template of the provider route that served the request (`/auth/:uid`, never the uid), under
 * the tenant's mount without its slug: the `route` label of the HTTP metrics. Unmatched paths
 * report nothing, so they count as unmatched.
 */
function reportRoute(ctx: Context) {
  const template = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof template === 'string') observer()?.route(`/t/:tenant${template}`);
}

/** What a provider request revoked or started, to the audit trail and the session limit. */
async function recordOutcome(ctx: KoaContextWithOIDC, outcome: Outcome, tenant: Tenant, deps: Deps, limit: number) {
  const oidc = ctx.oidc;
  const route = oidc?.route;
  // The token or grant is gone by now, whatever PostgreSQL does next: an event it cannot take waits
  // in the kv store (audit/outbox.ts), and the client is told what happened.
  if (route === 'revocation' && outcome.revoked.length) {
    // RFC 7009 answers 200 whatever happened; the trail says what was actually revoked.
    const token = (oidc.entities.RefreshToken ?? oidc.entities.AccessToken ?? oidc.entities.ClientCredentials) as { accountId?: string; grantId?: string } | undefined;
    await recordAuditOrKeep(deps, {
      tenantId: tenant.id, type: 'token.revoked', actor: `client:${oidc.client?.clientId}`, subject: token?.accountId ? `user:${token.accountId}` : oidc.client ? `client:${oidc.client.clientId}` : null,
      ip: ctx.ip, userAgent: ctx.get('user-agent') || null, details: { kinds: outcome.revoked, grant_revoked: outcome.grantRevoked, via: 'revocation' },
    });
  } else if (route === 'token' && outcome.grantRevoked) {
    // RFC 6749 §10.4 / RFC 9700: a rotated refresh token (or a code, §4.1.2) came back, so its
    // whole grant is gone.
    const via = oidc.params?.grant_type === 'authorization_code' ? 'authorization_code_reuse' : 'refresh_token_reuse';
    // A reused code is gone with its grant by now; the grant's ended row still names the user
    // (unless PostgreSQL is away: the event is kept without its subject then, not lost).
    const accountId = (oidc.entities.RefreshToken as { accountId?: string } | undefined)?.accountId
      ?? (outcome.revokedGrantId ? await accountOfGrant(deps.db, tenant.id, outcome.revokedGrantId).catch((err: unknown) => {
        if (isDbUnavailable(err)) return undefined;
        throw err;
      }) : undefined);
    await recordAuditOrKeep(deps, {
      tenantId: tenant.id, type: 'token.revoked', actor: `client:${oidc.client?.clientId}`, subject: subjectOfAccount(accountId), outcome: 'failure',
      ip: ctx.ip, userAgent: ctx.get('user-agent') || null, details: { via, grant_revoked: true },
    });
  }
  if (outcome.session) await enforceSessionLimit(deps, tenant, outcome.session.accountId, outcome.session.uid, limit);
}

/**
 * Storage failing outside oidc-provider's own error handlers (our steps around its routes) answers
 * like inside them: 503 temporarily_unavailable, not a 500 with a stack from Koa's default handler.
 */
function withUnavailableAnswered(ctx: Context, tenant: Tenant, run: () => Promise<unknown>): Promise<unknown> {
  let running: Promise<unknown>;
  try {
    running = run();
  } catch (err) {
    running = Promise.reject(err);
  }
  return running.catch((err: unknown) => {
    if (!isStorageUnavailable(err)) throw err;
    log().warn('provider.unavailable', { tenant: tenant.slug, route: (ctx as KoaContextWithOIDC).oidc?.route, error: unavailableDetails(err) });
    ctx.status = 503;
    if (ctx.accepts('json', 'html') === 'html') {
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.type = 'html';
      ctx.body = unavailablePage(logContext()?.request_id);
    } else {
      ctx.body = {};
      answerUnavailable(ctx);
    }
  });
}

/** RFC 6749 §4.1.2.1 names `temporarily_unavailable`; a JSON answer becomes that, an HTML page is already the retry page (pages.ts). */
function answerUnavailable(ctx: Context) {
  ctx.status = 503;
  ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  const body = ctx.body as { state?: string } | string | undefined;
  if (body && typeof body === 'object' && !Buffer.isBuffer(body)) {
    ctx.body = { error: 'temporarily_unavailable', error_description: 'the service cannot complete this request right now; retry shortly', ...(body.state ? { state: body.state } : {}) };
  }
}
