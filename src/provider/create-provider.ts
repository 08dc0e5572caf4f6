import { createHash } from 'node:crypto';
import Provider, { errors, type AdapterPayload, type Configuration } from 'oidc-provider';
import type { Deps } from '../deps.js';
import { builtinClients } from '../domain/clients/builtin-clients.js';
import { CONFIDENTIAL_ONLY_GRANTS } from '../domain/clients/clients.types.js';
import { issuerOf, type Tenant } from '../domain/tenants/tenants.types.js';
import { kvKey } from '../kv/index.js';
import { CookieKeys } from '../security/cookie-keys.js';
import { outboundFetch } from '../security/outbound-fetch.js';
import { findAccount } from './account.js';
import { adapterFactory } from './adapters/index.js';
import { PostgresAdapter } from './adapters/postgres.js';
import { accountClientSid, loadExistingGrant } from './config/account-client.js';
import { claims, scopes } from './config/claims.js';
import { features } from './config/features.js';
import { renderError } from './config/pages.js';
import { ACR_VALUES, interactionPolicyFor } from './config/policy.js';
import { ttl } from './config/ttl.js';
import { limitClientAuthFailures } from './client-auth-limit.js';
import { NativeSigningKey } from './signing-key.js';
import { forwardProviderEvents } from './events.js';
import { answerUnknownRoutes } from './not-found.js';
import type { TenantCache } from './tenant-cache.js';
import { logAppErrors } from '../log/request.js';

/** One oidc-provider per tenant, configured from small pieces (STYLE.md). */
export function createProvider(tenant: Tenant, jwks: Record<string, unknown>[], deps: Deps, cache?: TenantCache): Provider {
  const issuer = issuerOf(deps.config.publicUrl, tenant.slug);
  const algs = [...new Set(jwks.map((k) => String(k.alg)))];
  const currentAlg = () => algs[0] ?? 'RS256';
  const configuration: Configuration = {
    adapter: adapterFactory(tenant.id, deps, builtinClients(issuer)),
    findAccount: findAccount(tenant.id, deps, cache),
    // Signed by node:crypto on the thread pool (signing-key.ts), not by jose through WebCrypto.
    jwks: { keys: jwks.map((jwk) => new NativeSigningKey(jwk)) },
    claims,
    scopes,
    features: features(tenant, deps, currentAlg, cache) as Configuration['features'],
    ttl: ttl(tenant.settings),
    interactions: { url: (_ctx, interaction) => `${issuer}/interaction/${interaction.uid}`, policy: interactionPolicyFor(tenant, deps.config.publicUrl) },
    // DESIGN.md "Interaction pages": one factor or multi-factor; discovery lists them.
    acrValues: ACR_VALUES,
    // DESIGN.md "OIDC federation": `idp_hint=${name}` goes straight to that connection.
    extraParams: ['idp_hint'],
    ...(tenant.settings.registration.enabled ? { discovery: { prompt_values_supported: ['none', 'login', 'consent', 'create'] } } : {}),
    cookies: {
      // The session cookie is per tenant: tenants share one host name.
      names: { session: `_session.${tenant.slug}`, interaction: `_interaction`, resume: `_interaction_resume` },
      // keygrip's signatures, checked without tsscmp's two extra HMACs (security/cookie-keys.ts).
      keys: new CookieKeys([deps.secrets.cookieKey(tenant.id)]),
    },
    // Authorization code only: no implicit or hybrid flow hands tokens to the front channel
    // (OAuth 2.0 Security BCP, RFC 9700 §2.1.2). A client registering another type is refused.
    responseTypes: ['code'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // OIDC Dynamic Client Registration §2: a client that names no ID Token algorithm gets RS256.
      id_token_signed_response_alg: (algs.includes('RS256') ? 'RS256' : currentAlg()) as any,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    // Secrets are kept only as hashes, so methods that need the plain secret are not offered.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // DESIGN.md "Admin API": only a client with `admin_access: true` may obtain admin-API tokens.
    extraClientMetadata: { properties: ['admin_access'], validator: validateAdminAccess },
    enabledJWA: {
      idTokenSigningAlgValues: algs as any,
      userinfoSigningAlgValues: algs as any,
      introspectionSigningAlgValues: algs as any,
      authorizationSigningAlgValues: algs as any,
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    // RFC 6749 §10.4: refresh tokens rotate on every use; reuse of a rotated one revokes the grant.
    rotateRefreshToken: true,
    conformIdTokenClaims: false,
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    renderError,
    loadExistingGrant,
    clockTolerance: 5,
    allowOmittingSingleRegisteredRedirectUri: false,
    // Back-channel logout, jwks_uri and sector_identifier_uri reach special-use addresses only inside OUTBOUND_ALLOW.
    fetch: outboundFetch(deps.config.outboundAllow),
  };
  const provider = new Provider(issuer, configuration);
  // The issuer's host and scheme come from PUBLIC_URL (tenancy/mount.ts sets the forwarded headers);
  // ctx.ip is the client address security/client-address.ts wrote into X-Forwarded-For.
  provider.proxy = true;
  logAppErrors(provider); // the provider is a Koa app; its callback() is taken after this
  hashedClientSecrets(provider, deps);
  confidentialOnlyGrants(provider);
  accountClientSid(provider);
  answerUnknownRoutes(provider);
  forwardProviderEvents(provider, tenant, deps);
  if (cache) rememberClients(provider, cache);
  limitClientAuthFailures(provider, tenant, deps);
  jtiOnce(provider, tenant, deps);
  revokeOnLostRedemption(provider);
  rotateSessionsInOneStatement(provider);
  return provider;
}

/**
 * A code or rotating refresh token presented twice has its grant revoked (RFC 6749 §4.1.2,
 * RFC 9700 §4.14.2): oidc-provider does so when the second use finds the first one's mark. Two
 * uses at the same instant both find none, and the adapter lets only one consume; the other
 * is refused without revoking, so a thief who won the race kept the grant. Here the loser revokes
 * it too, as oidc-provider's revoke helper does (every model of the grant, then the grant).
 */
function revokeOnLostRedemption(provider: Provider) {
  for (const model of [provider.AuthorizationCode, provider.RefreshToken]) {
    const proto = model.prototype as unknown as { consume(): Promise<void>; grantId?: string };
    const consume = proto.consume;
    proto.consume = async function consumeOrRevoke(this: typeof proto) {
      try {
        await consume.call(this);
      } catch (err) {
        if (err instanceof errors.InvalidGrant && this.grantId) {
          await Promise.all([
            ...[provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode, provider.DeviceCode, provider.BackchannelAuthenticationRequest].map((m) => m.revokeByGrantId(this.grantId!)),
            provider.Grant.adapter.destroy(this.grantId),
          ]);
          provider.emit('grant.revoked', Provider.ctx, this.grantId);
        }
        throw err;
      }
    };
  }
}

/**
 * oidc-provider rotates a session's id at every resume: Session#save destroys the old id, then
 * saves the new one. Here both go in one statement (PostgresAdapter#rotate): one round trip fewer
 * per login, nothing can run between the two, and a session logged out or revoked while the
 * request was in flight is not saved under the new id (the save throws SessionNotFound, which
 * oidc-provider answers as an OAuth error). The rest of the save is oidc-provider's own: only the
 * adapter it writes through is swapped for the call.
 */
function rotateSessionsInOneStatement(provider: Provider) {
  type Saving = { save(ttl: number): Promise<unknown>; oldId?: string; adapter: unknown };
  const proto = provider.Session.prototype as unknown as Saving;
  const save = proto.save;
  proto.save = async function saveRotating(this: Saving, ttl: number) {
    const { oldId, adapter } = this;
    if (!oldId || !(adapter instanceof PostgresAdapter)) return save.call(this, ttl);
    this.oldId = undefined;
    const rotating = { upsert: (id: string, payload: AdapterPayload, expiresIn: number) => adapter.rotate(oldId, id, payload, expiresIn) };
    Object.defineProperty(this, 'adapter', { value: rotating, configurable: true });
    try {
      return await save.call(this, ttl);
    } catch (err) {
      // Refused: the session ended meanwhile. oidc-provider would save it again, under the new id
      // and without the check, at the end of the request (ensureSessionSave) unless it is destroyed.
      if (err instanceof errors.SessionNotFound) (this as Saving & { destroyed?: boolean }).destroyed = true;
      throw err;
    } finally {
      delete (this as Partial<Saving>).adapter;
    }
  };
}

/**
 * A client assertion's or DPoP proof's `jti` is accepted once (RFC 7523 §3, RFC 9449 §11.1).
 * oidc-provider's ReplayDetection.unique finds the jti, then saves it: two requests carrying one
 * assertion at the same instant both passed, on one node or two. Here the kv store counts it
 * atomically and the first to count wins; a later one gets `false`, which oidc-provider answers
 * with its own error (invalid_client, invalid_dpop_proof). The id is oidc-provider's own.
 */
function jtiOnce(provider: Provider, tenant: Tenant, deps: Pick<Deps, 'kv' | 'kvPrefix'>) {
  const model = provider.ReplayDetection as unknown as { unique(iss: string, jti: string, exp: number): Promise<boolean> };
  model.unique = async (iss, jti, exp) => {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    const ttl = Math.max(1, Math.ceil(exp - Date.now() / 1000));
    return (await deps.kv.incr(kvKey(deps.kvPrefix, tenant.id, 'oidc', 'ReplayDetection', 'seen', id), ttl)) === 1;
  };
}

/**
 * The provider's Client objects kept in the tenant's cache, so a request finds its client in a
 * map: oidc-provider would otherwise read the row through the adapter (a query) and serialise
 * and hash it to find the Client it built from it before (about 15 µs a token request beyond
 * the query, docs/BENCHMARKS.md). It already shares one Client between requests; this only skips
 * the lookup. Dropped when the change feed announces a change (the client-auth limit wraps this,
 * so it still sees every lookup).
 */
function rememberClients(provider: Provider, cache: TenantCache) {
  const find = provider.Client.find.bind(provider.Client);
  const models = cache.clientModels as Map<string, Awaited<ReturnType<typeof find>> & object>;
  provider.Client.find = (id: string) => (typeof id === 'string' ? cache.remember(models, id, () => find(id)) : find(id));
}

function validateAdminAccess(_ctx: unknown, key: string, value: unknown) {
  if (key === 'admin_access' && value !== undefined && typeof value !== 'boolean') throw new errors.InvalidClientMetadata('admin_access must be a boolean');
}

/** `client_secret` holds the keyed hash (adapters/clients.ts); compare the presented secret's hash. */
function hashedClientSecrets(provider: Provider, deps: Pick<Deps, 'secrets'>) {
  const proto = provider.Client.prototype as unknown as { compareClientSecret(actual: string): boolean; clientSecret?: string };
  proto.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return typeof actual === 'string' && !!this.clientSecret && deps.secrets.verifyClientSecret(actual, this.clientSecret);
  };
}

/**
 * RFC 6749 §4.4: registration refuses client_credentials to a public client, and a client stored
 * with it before that rule is refused here too (the token endpoint answers invalid_request).
 */
function confidentialOnlyGrants(provider: Provider) {
  const proto = provider.Client.prototype as unknown as { grantTypeAllowed(type: string): boolean; clientAuthMethod: string };
  const grantTypeAllowed = proto.grantTypeAllowed;
  proto.grantTypeAllowed = function confidentialGrantTypeAllowed(this: typeof proto, type: string) {
    if (this.clientAuthMethod === 'none' && CONFIDENTIAL_ONLY_GRANTS.has(type)) return false;
    return grantTypeAllowed.call(this, type);
  };
}
