import type { Context } from 'koa';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Deps } from '../deps.js';
import { ACCOUNT_CLIENT_ID } from '../domain/clients/builtin-clients.js';
import { issuerOf, type Tenant } from '../domain/tenants/tenants.types.js';

export class SignInError extends Error {}

/**
 * This node, as reached from itself: the address and port the browser's request came in on. The
 * token and JWKS requests go there instead of to PUBLIC_URL, which a node behind a load balancer
 * may not be able to reach; every URL the provider answers with still comes from PUBLIC_URL
 * (tenancy/mount.ts), so `iss` is the public issuer.
 */
function localOrigin(ctx: Context) {
  let host = ctx.req.socket.localAddress || '127.0.0.1';
  if (host.startsWith('::ffff:')) host = host.slice(7);
  return `http://${host.includes(':') ? `[${host}]` : host}:${ctx.req.socket.localPort}`;
}

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(10_000) });
  const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!res.ok || !body) throw new SignInError(`${new URL(url).pathname} answered ${res.status}${body?.error ? ` ${String(body.error)}` : ''}`);
  return body;
}

/**
 * Redeems the code at the tenant's token endpoint (PKCE) and verifies the ID Token as OIDC Core
 * §3.1.3.7 asks: signature by one of the tenant's published keys, `iss`, `aud` (and `azp`), `exp`,
 * and the `nonce` this browser's sign-in sent. Returns who signed in, when, and in which session.
 */
export async function redeemCode(ctx: Context, deps: Pick<Deps, 'config'>, tenant: Tenant, input: { code: string; verifier: string; nonce: string }) {
  const issuer = issuerOf(deps.config.publicUrl, tenant.slug);
  const local = `${localOrigin(ctx)}/t/${tenant.slug}`;
  const tokens = await call(`${local}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: input.code, redirect_uri: `${issuer}/account/callback`, code_verifier: input.verifier, client_id: ACCOUNT_CLIENT_ID,
    }),
  });
  if (typeof tokens.id_token !== 'string') throw new SignInError('no id_token in the token response');
  const keys = createLocalJWKSet((await call(`${local}/jwks`)) as unknown as JSONWebKeySet);
  const { payload } = await jwtVerify(tokens.id_token, keys, {
    issuer, audience: ACCOUNT_CLIENT_ID, clockTolerance: 5, requiredClaims: ['sub', 'iat', 'exp', 'auth_time', 'sid', 'nonce'],
  }).catch((err: Error) => {
    throw new SignInError(`id_token refused: ${err.message}`);
  });
  if (payload.nonce !== input.nonce) throw new SignInError('id_token nonce mismatch');
  if (payload.azp !== undefined && payload.azp !== ACCOUNT_CLIENT_ID) throw new SignInError('id_token azp mismatch');
  if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.auth_time !== 'number') throw new SignInError('id_token claims malformed');
  return { sub: payload.sub, sid: payload.sid, authTime: payload.auth_time };
}
