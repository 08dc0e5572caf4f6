import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { recordAuditNow } from '../audit/record.js';
import type { Deps } from '../deps.js';
import { enforceSessionLimit } from '../domain/sessions/sessions.service.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { log } from '../log/logger.js';
import { logBackchannelFailure, logBackchannelSent } from './backchannel-logout.js';
import { renderError } from './config/pages.js';

/** What happened during one provider request that Gatehouse acts on once it is done. */
interface Outcome {
  revoked: string[];
  grantRevoked: boolean;
  session?: { uid: string; accountId: string };
}

const outcomeOf = (ctx: KoaContextWithOIDC | undefined): Outcome | undefined => (ctx?.state as { gatehouse?: Outcome } | undefined)?.gatehouse;

/** Provider events go to logs, and those that are audit events to the trail before the answer leaves. */
export function forwardProviderEvents(provider: Provider, tenant: Tenant, deps: Deps) {
  provider.on('server_error', (_ctx, err) => {
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
  provider.on('grant.revoked', (ctx) => {
    const outcome = outcomeOf(ctx as KoaContextWithOIDC);
    if (outcome) outcome.grantRevoked = true;
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

  provider.use(async (ctx, next) => {
    const outcome: Outcome = { revoked: [], grantRevoked: false };
    (ctx.state as { gatehouse?: Outcome }).gatehouse = outcome;
    try {
      await next();
    } catch (err) {
      // oidc-provider cannot persist the session a device-verification POST without a prior GET
      // (no session yet) touched, and throws after its error handling: that request is a 400.
      if (!(err instanceof TypeError) || (ctx as KoaContextWithOIDC).oidc?.route !== 'code_verification') throw err;
      ctx.status = 400;
      await renderError(ctx as KoaContextWithOIDC, { error: 'invalid_request', error_description: 'the verification form expired; open the verification page again' });
      return;
    }
    const oidc = (ctx as KoaContextWithOIDC).oidc;
    const route = oidc?.route;
    if (route === 'revocation' && outcome.revoked.length) {
      // RFC 7009 answers 200 whatever happened; the trail says what was actually revoked.
      const token = (oidc.entities.RefreshToken ?? oidc.entities.AccessToken ?? oidc.entities.ClientCredentials) as { accountId?: string; grantId?: string } | undefined;
      await recordAuditNow(deps.db, {
        tenantId: tenant.id, type: 'token.revoked', actor: `client:${oidc.client?.clientId}`, subject: token?.accountId ?? oidc.client?.clientId ?? null,
        ip: ctx.ip, userAgent: ctx.get('user-agent') || null, details: { kinds: outcome.revoked, grant_revoked: outcome.grantRevoked, via: 'revocation' },
      });
    } else if (route === 'token' && outcome.grantRevoked) {
      // RFC 6749 §10.4 / RFC 9700: a rotated refresh token came back, so its whole grant is gone.
      await recordAuditNow(deps.db, {
        tenantId: tenant.id, type: 'token.revoked', actor: `client:${oidc.client?.clientId}`, subject: (oidc.entities.RefreshToken as { accountId?: string } | undefined)?.accountId ?? null, outcome: 'failure',
        ip: ctx.ip, userAgent: ctx.get('user-agent') || null, details: { via: 'refresh_token_reuse', grant_revoked: true },
      });
    }
    if (outcome.session) await enforceSessionLimit(deps, tenant, outcome.session.accountId, outcome.session.uid, limit);
  });
}
