import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';

/**
 * The account pages' own cookies, scoped to `/t/${slug}/account`, HttpOnly, SameSite=Lax (Secure
 * when PUBLIC_URL is https). Their values are sealed with the master key (AES-GCM, secrets.ts)
 * bound to the tenant and the purpose, so they can be neither read nor made nor moved to another
 * tenant.
 */
const SESSION_COOKIE = 'gh_account';
const LOGIN_COOKIE = 'gh_account_login';
/** How long a started sign-in may take (the login page, a second factor, an enrollment). */
const LOGIN_SECONDS = 15 * 60;

/** Who is signed in to the account pages, and through which provider session. */
export interface AccountSession {
  /** The user id (the ID Token's `sub`). */
  sub: string;
  /** The ID Token's `sid`: names the tenant session this sign-in belongs to. */
  sid: string;
  /** The ID Token's `auth_time`, seconds: when the user last proved a credential. */
  authTime: number;
  /** Seconds; the tenant's session_ttl from the sign-in. */
  exp: number;
  /** Random, per sign-in: the CSRF tokens of these pages are derived from it. */
  key: string;
}

/** A sign-in under way: what the callback checks the answer against (OIDC Core §3.1.2.1, RFC 7636). */
export interface LoginState {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  exp: number;
}

export const accountBase = (tenant: Tenant) => `/t/${tenant.slug}/account`;
const now = () => Math.floor(Date.now() / 1000);

function setCookie(ctx: Context, deps: Pick<Deps, 'config'>, tenant: Tenant, name: string, value: string | null, maxAgeSeconds: number) {
  const secure = deps.config.publicUrl.startsWith('https:');
  // Behind a TLS-terminating proxy Koa sees plain HTTP; PUBLIC_URL says what the browser uses.
  if (secure) (ctx.cookies as unknown as { secure: boolean }).secure = true;
  ctx.cookies.set(name, value, { path: accountBase(tenant), httpOnly: true, sameSite: 'lax', secure, maxAge: value === null ? 0 : maxAgeSeconds * 1000, overwrite: true, signed: false });
}

/** Sealed with the cookies key, which a master-key rotation carries over: nobody is signed out by one. */
function seal(deps: Pick<Deps, 'secrets'>, tenant: Tenant, purpose: string, value: object) {
  return deps.secrets.sealForCookie(JSON.stringify(value), `account-${purpose}:${tenant.id}`);
}

function unseal<T extends { exp: number }>(deps: Pick<Deps, 'secrets'>, tenant: Tenant, purpose: string, sealed: string | undefined): T | undefined {
  if (!sealed || sealed.length > 4096) return undefined;
  try {
    const aad = `account-${purpose}:${tenant.id}`;
    // Cookies of a node before this one sealed with the master key itself (a rolling upgrade).
    const opened = (() => {
      try {
        return deps.secrets.openFromCookie(sealed, aad);
      } catch {
        return deps.secrets.decrypt(sealed, aad);
      }
    })();
    const value = JSON.parse(opened) as T;
    return typeof value.exp === 'number' && value.exp > now() ? value : undefined;
  } catch {
    return undefined; // another tenant's, another key's, or tampered with
  }
}

export function readSession(ctx: Context, deps: Pick<Deps, 'secrets'>, tenant: Tenant) {
  return unseal<AccountSession>(deps, tenant, 'session', ctx.cookies.get(SESSION_COOKIE));
}

/** The cookie lives as long as a tenant session does (session_ttl), from this sign-in. */
export function startSession(ctx: Context, deps: Pick<Deps, 'secrets' | 'config'>, tenant: Tenant, signedIn: Pick<AccountSession, 'sub' | 'sid' | 'authTime'>) {
  const ttl = tenant.settings.session_ttl;
  const session: AccountSession = { ...signedIn, exp: now() + ttl, key: randomBytes(16).toString('base64url') };
  setCookie(ctx, deps, tenant, SESSION_COOKIE, seal(deps, tenant, 'session', session), ttl);
  return session;
}

export function endSession(ctx: Context, deps: Pick<Deps, 'config'>, tenant: Tenant) {
  setCookie(ctx, deps, tenant, SESSION_COOKIE, null, 0);
}

export function saveLoginState(ctx: Context, deps: Pick<Deps, 'secrets' | 'config'>, tenant: Tenant, state: Omit<LoginState, 'exp'>) {
  setCookie(ctx, deps, tenant, LOGIN_COOKIE, seal(deps, tenant, 'login', { ...state, exp: now() + LOGIN_SECONDS }), LOGIN_SECONDS);
}

/** The started sign-in, used once: the cookie is cleared whatever the callback decides. */
export function takeLoginState(ctx: Context, deps: Pick<Deps, 'secrets' | 'config'>, tenant: Tenant) {
  const state = unseal<LoginState>(deps, tenant, 'login', ctx.cookies.get(LOGIN_COOKIE));
  setCookie(ctx, deps, tenant, LOGIN_COOKIE, null, 0);
  return state;
}
