import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Deps } from '../../deps.js';
import { issuerOf, type Tenant } from '../../domain/tenants/tenants.types.js';
import { kvKey } from '../../kv/store.js';
import type { SamlIdentity } from './identity.js';

/**
 * IdP-initiated login (only where `allow_idp_initiated`): a verified unsolicited assertion has no
 * login of an application to finish, so the user lands signed in on the tenant's account page,
 * `${issuer}/account`, whatever RelayState says (it would be an open redirect). The ACS keeps the
 * identity for a moment under a random ticket, in kv and in a cookie of this browser only, and
 * sends the browser to the account sign-in with `idp_hint=${name}`; the tenant's own login then
 * comes back to this connection's start, which finds the ticket and finishes the login with it
 * instead of asking the IdP again. So the account session is made by the tenant's authorization
 * endpoint as for any login (consent, MFA policy and audit included).
 */
const COOKIE = 'gh_saml_unsolicited';
const TICKET_SECONDS = 120;

const cookiePath = (tenant: Tenant, name: string) => `/t/${tenant.slug}/saml/${name}`;
const ticketKey = (deps: Pick<Deps, 'kvPrefix'>, tenant: Tenant, ticket: string) => kvKey(deps.kvPrefix, tenant.id, 'saml', 'unsolicited', ticket);

function setCookie(ctx: Context, deps: Pick<Deps, 'config'>, tenant: Tenant, name: string, value: string | null) {
  const secure = deps.config.publicUrl.startsWith('https:');
  if (secure) (ctx.cookies as unknown as { secure: boolean }).secure = true;
  ctx.cookies.set(COOKIE, value, { path: cookiePath(tenant, name), httpOnly: true, sameSite: 'lax', secure, maxAge: value === null ? 0 : TICKET_SECONDS * 1000, overwrite: true, signed: false });
}

/** Keeps the verified identity and sends the browser to sign in to its account page. */
export async function handOverUnsolicited(ctx: Context, deps: Deps, tenant: Tenant, name: string, identity: SamlIdentity) {
  const ticket = randomBytes(32).toString('base64url');
  await deps.kv.set(ticketKey(deps, tenant, ticket), JSON.stringify({ connection: name, identity }), TICKET_SECONDS);
  setCookie(ctx, deps, tenant, name, ticket);
  ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(`${issuerOf(deps.config.publicUrl, tenant.slug)}/account/login?idp_hint=${encodeURIComponent(name)}`);
}

/** The identity this browser brought from an unsolicited assertion of this connection, once. */
export async function takeUnsolicited(ctx: Context, deps: Deps, tenant: Tenant, name: string): Promise<SamlIdentity | undefined> {
  const ticket = ctx.cookies.get(COOKIE);
  if (!ticket || !/^[A-Za-z0-9_-]{43}$/.test(ticket)) return undefined;
  setCookie(ctx, deps, tenant, name, null);
  const key = ticketKey(deps, tenant, ticket);
  if ((await deps.kv.incr(`${key}:taken`, TICKET_SECONDS)) > 1) return undefined; // once, on any node
  const stored = await deps.kv.get(key);
  if (stored === undefined) return undefined;
  await deps.kv.del(key);
  const { connection, identity } = JSON.parse(stored) as { connection: string; identity: SamlIdentity };
  return connection === name ? identity : undefined;
}
