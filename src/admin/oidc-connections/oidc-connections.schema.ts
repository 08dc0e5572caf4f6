import { z } from 'zod';
import { MAPPED_OIDC_CLAIMS, OIDC_CONNECTION_NAME, TOKEN_ENDPOINT_AUTH_METHODS } from '../../domain/oidc-connections/oidc-connections.types.js';

/** Letters, digits and hyphens per label (RFC 1123), at least two labels, lowercase as stored. */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;
const domain = z.string().trim().toLowerCase().regex(DOMAIN, 'must be a domain name such as example.com');
const emailDomains = z.array(domain).max(100).transform((ds) => [...new Set(ds)].sort());

/** OIDC Discovery §2: an https URL without query or fragment (http only for local trials). */
const issuer = z.string().max(2048).url().refine((v) => {
  const u = new URL(v);
  return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash && !u.username && !u.password;
}, 'must be an http(s) URL without query, fragment or credentials').transform((v) => v.replace(/\/+$/, ''));

const claimName = z.string().min(1).max(256).regex(/^[^\x00-\x1F]+$/, 'must not contain control characters');
const claimMapping = z.object(Object.fromEntries(MAPPED_OIDC_CLAIMS.map((c) => [c, claimName.optional()]))).strict();

const roleName = z.string().min(1).max(200);
const groupRoleMapping = z.record(z.string().min(1).max(256), z.union([roleName, z.array(roleName).min(1).max(50)]))
  .refine((m) => Object.keys(m).length <= 500, 'at most 500 groups')
  .transform((m) => Object.fromEntries(Object.entries(m).map(([g, r]) => [g, [...new Set([r].flat())].sort()])));

/** RFC 6749 §3.3 scope tokens; `openid` is always requested. */
const scopes = z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, 'must be a scope token')).max(50)
  .transform((s) => [...new Set(['openid', ...s])]);

const fields = {
  display_name: z.string().trim().min(1).max(200),
  issuer,
  client_id: z.string().min(1).max(512),
  client_secret: z.string().min(1).max(4096),
  token_endpoint_auth_method: z.enum(TOKEN_ENDPOINT_AUTH_METHODS),
  scopes,
  email_domains: emailDomains,
  claim_mapping: claimMapping,
  group_role_mapping: groupRoleMapping,
  trust_email: z.boolean(),
  upstream_mfa_counts: z.boolean(),
};

export const CreateOidcConnection = z.object({
  name: z.string().regex(OIDC_CONNECTION_NAME, 'must match ^[a-z0-9][a-z0-9-]{0,62}$'),
  display_name: fields.display_name,
  issuer: fields.issuer,
  client_id: fields.client_id,
  client_secret: fields.client_secret,
  token_endpoint_auth_method: fields.token_endpoint_auth_method.default('client_secret_basic'),
  scopes: fields.scopes.optional(),
  email_domains: fields.email_domains.default([]),
  claim_mapping: fields.claim_mapping.default({}),
  group_role_mapping: fields.group_role_mapping.optional(),
  trust_email: fields.trust_email.default(false),
  upstream_mfa_counts: fields.upstream_mfa_counts.default(false),
}).strict();

/** Any subset; each given field replaces what is stored. `name` is in the redirect URI: fixed. */
export const PatchOidcConnection = z.object(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof fields]: z.ZodOptional<(typeof fields)[K]> }).strict();
