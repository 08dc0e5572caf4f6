import * as oidc from 'openid-client';
import type { Deps } from '../../deps.js';
import { clientSecretAad, type OidcConnection } from '../../domain/oidc-connections/oidc-connections.types.js';
import { outboundFetch } from '../../security/outbound-fetch.js';

/** Discovery answers are reused this long; a changed connection is rediscovered at once. */
const DISCOVERY_TTL_MS = 60 * 60_000;
const MAX_CACHED = 500;
/** Seconds an upstream call may take (discovery, token, JWKS, userinfo). */
const UPSTREAM_TIMEOUT_SECONDS = 10;

interface Cached {
  stamp: string;
  at: number;
  config: Promise<oidc.Configuration>;
}
const cache = new Map<string, Cached>();

/** An http:// issuer is accepted outside production only (local trials, tests on loopback). */
export class InsecureIssuerError extends Error {}

/**
 * openid-client's Configuration for a connection: discovered from its issuer, through the SSRF
 * guard (OUTBOUND_ALLOW), cached per connection and dropped when the connection changes (its
 * updated_at is part of the stamp, so every node sees the change on its next login).
 */
export function upstreamConfiguration(deps: Pick<Deps, 'config' | 'secrets'>, connection: OidcConnection): Promise<oidc.Configuration> {
  const key = `${connection.tenantId}/${connection.name}`;
  const stamp = `${connection.updatedAt.getTime()} ${connection.issuer} ${connection.clientId}`;
  const hit = cache.get(key);
  if (hit && hit.stamp === stamp && Date.now() - hit.at < DISCOVERY_TTL_MS) return hit.config;
  const config = discover(deps, connection);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, { stamp, at: Date.now(), config });
  // A failed discovery is not kept: the next login tries again.
  config.catch(() => {
    if (cache.get(key)?.config === config) cache.delete(key);
  });
  return config;
}

async function discover(deps: Pick<Deps, 'config' | 'secrets'>, connection: OidcConnection) {
  const issuer = new URL(connection.issuer);
  const insecure = issuer.protocol === 'http:';
  if (insecure && deps.config.production) throw new InsecureIssuerError('an http:// issuer is refused when NODE_ENV=production');
  const secret = deps.secrets.decrypt(connection.clientSecretSealed, clientSecretAad(connection.tenantId, connection.name));
  const auth = connection.tokenEndpointAuthMethod === 'client_secret_post' ? oidc.ClientSecretPost(secret) : oidc.ClientSecretBasic(secret);
  const guarded = outboundFetch(deps.config.outboundAllow);
  const config = await oidc.discovery(issuer, connection.clientId, { token_endpoint_auth_method: connection.tokenEndpointAuthMethod }, auth, {
    execute: insecure ? [oidc.allowInsecureRequests] : [],
    timeout: UPSTREAM_TIMEOUT_SECONDS,
    // Every upstream call (discovery, token, JWKS, userinfo) goes through the SSRF guard.
    [oidc.customFetch]: (url, options) => guarded(url, options as RequestInit),
  });
  // OIDC Core §3.1.3.7 lets a client skip the signature of an ID token from the token endpoint
  // (TLS vouches for it), and openid-client does by default; DESIGN.md wants it checked against
  // the upstream's JWKS, which also holds when the token endpoint is reached without TLS.
  oidc.enableNonRepudiationChecks(config);
  return config;
}

/** Drops every cached configuration (tests, key rollover at an upstream). */
export function forgetUpstreamConfigurations() {
  cache.clear();
}
