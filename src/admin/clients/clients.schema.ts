import { z } from 'zod';
import { CLIENT_AUTH_METHODS } from '../../domain/clients/clients.types.js';

const uri = z.string().url().max(2000);
const uris = z.array(uri).max(50);
export const RoleNames = z.array(z.string().min(1).max(200)).max(100);

/** OIDC client metadata names (RFC 7591, OpenID Connect Registration) the provider understands. */
const metadata = {
  client_name: z.string().min(1).max(200).optional(),
  redirect_uris: uris.optional(),
  post_logout_redirect_uris: uris.optional(),
  grant_types: z.array(z.enum(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'])).optional(),
  response_types: z.array(z.string().max(100)).optional(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).max(20) }).optional(),
  jwks_uri: uri.optional(),
  logo_uri: uri.optional(),
  client_uri: uri.optional(),
  policy_uri: uri.optional(),
  tos_uri: uri.optional(),
  contacts: z.array(z.string().max(200)).max(20).optional(),
  scope: z.string().max(2000).optional(),
  application_type: z.enum(['web', 'native']).optional(),
  id_token_signed_response_alg: z.string().max(20).optional(),
  default_max_age: z.number().int().min(0).optional(),
  require_auth_time: z.boolean().optional(),
  backchannel_logout_uri: uri.optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  require_pushed_authorization_requests: z.boolean().optional(),
  dpop_bound_access_tokens: z.boolean().optional(),
  // Gatehouse's own: may this client obtain tokens for the admin API (DESIGN.md "Admin API").
  admin_access: z.boolean().optional(),
};

export const CreateClient = z.object({
  ...metadata,
  token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).optional(),
  roles: RoleNames.optional(),
}).strict();

/** The auth method is fixed at creation: switching it would need a secret to be made or dropped. */
export const PatchClient = z.object(metadata).strict();

export const ClientRoles = z.object({ roles: RoleNames }).strict();
