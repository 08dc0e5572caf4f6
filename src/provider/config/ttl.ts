import type { TenantSettings } from '../../domain/tenants/tenants.types.js';

/** Lifetimes in seconds, from the tenant's settings (read when the provider is built). */
export function ttl(settings: TenantSettings) {
  return {
    AccessToken: settings.access_token_ttl,
    ClientCredentials: settings.access_token_ttl,
    IdToken: settings.id_token_ttl,
    RefreshToken: settings.refresh_token_ttl,
    Grant: settings.refresh_token_ttl,
    Session: settings.session_ttl,
    AuthorizationCode: 60,
    DeviceCode: 600,
    Interaction: 3600,
    BackchannelAuthenticationRequest: 600,
  };
}
