import type { Context } from 'koa';
import * as oidc from 'openid-client';
import type { Deps } from '../../deps.js';
import { oidcRedirectUri } from '../../domain/oidc-connections/oidc-connection.present.js';
import { findOidcConnection } from '../../domain/oidc-connections/oidc-connections.queries.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { finishFederatedLogin, refuseFederatedLogin } from '../finish.js';
import { identityFromClaims, missingMappedClaims } from './claims.js';
import { classifyUpstreamError } from './errors.js';
import { takeLoginState } from './login-state.js';
import { upstreamConfiguration } from './upstream.js';

const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `${issuer}/oidc/${name}/callback`: takes the state (single use, this tenant, this connection),
 * exchanges the code with openid-client (which validates the ID token: signature from the
 * upstream JWKS, iss, aud, exp, nonce) and hands the identity to finishFederatedLogin.
 */
export async function oidcCallback(ctx: Context, deps: Deps) {
  const tenant = ctx.state.tenant as Tenant;
  const name = String(ctx.params.name);
  const label = `oidc/${name}`;
  const refuse = (reason: string, status: number, code?: string) =>
    refuseFederatedLogin(ctx, deps, tenant, { connection: label, reason, status, ...(code ? { code } : {}) });

  const stateParam = typeof ctx.query.state === 'string' ? ctx.query.state : '';
  const saved = stateParam ? await takeLoginState(deps, tenant.id, stateParam) : undefined;
  if (!saved || saved.connection !== name) return refuse('bad_state', 400);
  if (typeof ctx.query.error === 'string') {
    const code = ERROR_CODE.test(ctx.query.error) ? ctx.query.error : 'invalid';
    return refuse('upstream_error', code === 'access_denied' ? 403 : 502, code);
  }
  const connection = await findOidcConnection(deps.db, tenant.id, name);
  if (!connection) return refuse('unknown_connection', 404);

  let step: 'discovery' | 'exchange' | 'userinfo' = 'discovery';
  let claims: Record<string, unknown>;
  try {
    const config = await upstreamConfiguration(deps, connection);
    step = 'exchange';
    const currentUrl = new URL(`${oidcRedirectUri(deps.config.publicUrl, tenant, name)}?${ctx.querystring}`);
    const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
      pkceCodeVerifier: saved.codeVerifier, expectedState: stateParam, expectedNonce: saved.nonce, idTokenExpected: true,
    });
    claims = { ...tokens.claims()! };
    // Some providers put profile claims only in userinfo; the ID token's `sub` must match there.
    if (tokens.access_token && config.serverMetadata().userinfo_endpoint && missingMappedClaims(claims, connection.claimMapping)) {
      step = 'userinfo';
      const info = await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub));
      claims = { ...info, ...claims };
    }
  } catch (err) {
    const failure = classifyUpstreamError(err, step);
    return refuse(failure.reason, failure.status, failure.code);
  }
  await finishFederatedLogin(ctx, deps, tenant, {
    interactionUid: saved.interactionUid,
    connection: {
      tenantId: connection.tenantId, kind: 'oidc', name: connection.name, trustEmail: connection.trustEmail,
      upstreamMfaCounts: connection.upstreamMfaCounts, groupRoleMapping: connection.groupRoleMapping,
    },
    identity: identityFromClaims(claims, connection.claimMapping),
  });
}
