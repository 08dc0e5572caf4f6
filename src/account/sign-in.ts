import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import { ACCOUNT_CLIENT_ID } from '../domain/clients/builtin-clients.js';
import { revokeUserSessions } from '../domain/sessions/sessions.service.js';
import { issuerOf, type Tenant } from '../domain/tenants/tenants.types.js';
import { log } from '../log/logger.js';
import type { SessionsEnded } from '../domain/sessions/sessions.types.js';
import { redeemCode, SignInError } from './id-token.js';
import type { Account } from './page.js';
import { renderAccountPage } from './page.js';
import { accountBase, endSession, saveLoginState, startSession, takeLoginState } from './session.js';
import { text } from '../views/text/index.js';

const random = () => randomBytes(32).toString('base64url');

/** Only a path of this tenant's account pages: never an open redirect. */
function returnPath(tenant: Tenant, wanted: unknown) {
  const base = accountBase(tenant);
  return typeof wanted === 'string' && /^\/t\/[a-z0-9-]+\/account(\/[a-z/-]*)?$/.test(wanted) && (wanted === base || wanted.startsWith(`${base}/`)) ? wanted : base;
}

/**
 * Sends the browser to the tenant's own authorization endpoint as the built-in account client
 * (authorization code, PKCE S256, state and nonce): the login there is the tenant's, with its
 * second factor, lockout, rate limits and federation. `fresh=1` asks for the credentials again
 * (prompt=login), for actions that need a recent proof.
 */
export function startSignIn(deps: Deps, ctx: Context) {
  const tenant = ctx.state.tenant as Tenant;
  const issuer = issuerOf(deps.config.publicUrl, tenant.slug);
  const login = { state: random(), nonce: random(), verifier: random(), returnTo: returnPath(tenant, ctx.query.return) };
  saveLoginState(ctx, deps, tenant, login);
  const url = new URL(`${issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: ACCOUNT_CLIENT_ID,
    redirect_uri: `${issuer}/account/callback`,
    response_type: 'code',
    scope: 'openid',
    state: login.state,
    nonce: login.nonce,
    code_challenge: createHash('sha256').update(login.verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...(ctx.query.fresh === '1' ? { prompt: 'login' } : {}),
    // A connection to sign in through (an IdP-initiated SAML login lands here: federation/saml/unsolicited.ts).
    ...(typeof ctx.query.idp_hint === 'string' && /^[a-z0-9][a-z0-9-]{0,62}$/.test(ctx.query.idp_hint) ? { idp_hint: ctx.query.idp_hint } : {}),
  }).toString();
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 303;
  ctx.redirect(url.toString());
}

/** The authorization response: checks `state` against this browser's sign-in, then redeems the code. */
export async function finishSignIn(deps: Deps, ctx: Context) {
  const tenant = ctx.state.tenant as Tenant;
  const login = takeLoginState(ctx, deps, tenant);
  const { code, state, error } = ctx.query;
  const again = `${accountBase(tenant)}/login`;
  const failed = (message: string) => renderAccountPage(ctx, tenant, 'account-signed-out', { title: text.account.notSignedIn, heading: text.account.notSignedIn, message, again, failed: true }, 400);
  if (!login || typeof state !== 'string' || state !== login.state) return failed(text.account.signInExpired);
  if (typeof error === 'string') return failed(error === 'access_denied' ? text.account.signInCancelled : text.account.signInIncomplete);
  if (typeof code !== 'string') return failed(text.account.signInIncomplete);
  try {
    const signedIn = await redeemCode(ctx, deps, tenant, { code, verifier: login.verifier, nonce: login.nonce });
    startSession(ctx, deps, tenant, signedIn);
  } catch (err) {
    if (!(err instanceof SignInError)) throw err;
    log().warn('account.sign_in_failed', { reason: err.message });
    return failed(text.account.signInIncomplete);
  }
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 303;
  ctx.redirect(login.returnTo);
}

/**
 * Signing out of the account pages ends the tenant session they signed in with (as RP-initiated
 * logout would, and with the same back-channel logout to that session's other clients), so the
 * next visit asks for the credentials again instead of signing straight back in.
 */
export async function signOut(account: Account, ended: SessionsEnded) {
  const { deps, tenant, ctx } = account;
  await revokeUserSessions(deps, tenant, account.user.id, { ...account.actor }, account.session.id, ended);
  endSession(ctx, deps, tenant);
  renderAccountPage(ctx, tenant, 'account-signed-out', { title: text.account.signedOut, heading: text.account.signedOut, message: text.account.signedOutMessage, again: `${accountBase(tenant)}/login` });
}
