import * as oidc from 'openid-client';
import type { StartConnection } from '../federation.types.js';
import { oidcRedirectUri } from '../../domain/oidc-connections/oidc-connection.present.js';
import { findOidcConnection } from '../../domain/oidc-connections/oidc-connections.queries.js';
import { refuseFederatedLogin } from '../finish.js';
import { classifyUpstreamError } from './errors.js';
import { saveLoginState } from './login-state.js';
import { upstreamConfiguration } from './upstream.js';

/**
 * Sends the browser to the upstream's authorization endpoint (DESIGN.md "OIDC federation"):
 * code flow with PKCE (S256), `state` and `nonce`, all three kept in kv for the callback.
 */
export const startOidc: StartConnection = async (ctx, deps, tenant, { name, interactionUid, loginHint, reauthenticate }) => {
  const label = `oidc/${name}`;
  const connection = await findOidcConnection(deps.db, tenant.id, name);
  if (!connection) return refuseFederatedLogin(ctx, deps, tenant, { connection: label, reason: 'unknown_connection', status: 404 });
  let config: oidc.Configuration;
  try {
    config = await upstreamConfiguration(deps, connection);
  } catch (err) {
    const failure = classifyUpstreamError(err, 'discovery');
    return refuseFederatedLogin(ctx, deps, tenant, { connection: label, ...failure });
  }
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  await saveLoginState(deps, tenant.id, state, { interactionUid, connection: name, codeVerifier, nonce });
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: oidcRedirectUri(deps.config.publicUrl, tenant, name),
    scope: connection.scopes.join(' '),
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...(loginHint ? { login_hint: loginHint } : {}),
    // OIDC Core §3.1.2.1: the application's demand for a fresh login reaches the upstream.
    ...(reauthenticate ? { prompt: 'login' } : {}),
  });
  ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(url.href);
};
