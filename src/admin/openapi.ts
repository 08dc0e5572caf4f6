import { z } from 'zod';
import { ClientRoles, CreateClient, PatchClient } from './clients/clients.schema.js';
import { RotateKey } from './keys/keys.routes.js';
import { CreateOidcConnection, PatchOidcConnection } from './oidc-connections/oidc-connections.schema.js';
import { CreateSamlConnection, PatchSamlConnection } from './saml-connections/saml-connections.schema.js';
import { CreateTenant, PatchTenant } from './tenants/tenants.schema.js';
import { CreateUser, PatchUser, UserPassword, UserRoles } from './users/users.schema.js';
import { CreateGroup, GroupMembers, GroupRoles, PatchGroup } from './groups/groups.schema.js';
import { CreateResource, CreateRole, PatchResource, PatchRole } from './rbac/rbac.schema.js';

type Op = [method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, summary: string, body?: z.ZodType, ok?: number];

/** Every route of the admin API, written by hand; a test checks it against the router. */
const OPERATIONS: Op[] = [
  ['post', '/tenants', 'Create a tenant (system-admin)', CreateTenant, 201],
  ['get', '/tenants', 'List tenants (system-admin)'],
  ['get', '/tenants/{slug}', 'Read a tenant and its settings'],
  ['patch', '/tenants/{slug}', 'Change any subset of a tenant\'s settings (nested objects merged)', PatchTenant],
  ['delete', '/tenants/{slug}', 'Delete a tenant (system-admin; never the system tenant)', undefined, 204],
  ['post', '/tenants/{slug}/clients', 'Register a client; the answer carries client_secret once', CreateClient, 201],
  ['get', '/tenants/{slug}/clients', 'List clients'],
  ['get', '/tenants/{slug}/clients/{client_id}', 'Read a client (never its secret)'],
  ['patch', '/tenants/{slug}/clients/{client_id}', 'Change client metadata', PatchClient],
  ['delete', '/tenants/{slug}/clients/{client_id}', 'Delete a client', undefined, 204],
  ['post', '/tenants/{slug}/clients/{client_id}/secret', 'Rotate the client secret; the new one is shown once'],
  ['put', '/tenants/{slug}/clients/{client_id}/roles', 'Replace a client\'s roles', ClientRoles],
  ['post', '/tenants/{slug}/users', 'Create a user', CreateUser, 201],
  ['get', '/tenants/{slug}/users', 'List users; ?search= matches an email or name prefix'],
  ['get', '/tenants/{slug}/users/{id}', 'Read a user'],
  ['patch', '/tenants/{slug}/users/{id}', 'Change a user; disabled=true ends their sessions; a new email is unverified (unless email_verified is given) and gets a verification mail', PatchUser],
  ['delete', '/tenants/{slug}/users/{id}', 'Delete a user', undefined, 204],
  ['put', '/tenants/{slug}/users/{id}/roles', 'Replace a user\'s roles', UserRoles],
  ['put', '/tenants/{slug}/users/{id}/password', 'Set a user\'s password', UserPassword, 204],
  ['get', '/tenants/{slug}/users/{id}/sessions', 'List a user\'s live sessions'],
  ['delete', '/tenants/{slug}/users/{id}/sessions', 'End every session and grant of a user (refresh tokens included)', undefined, 204],
  ['delete', '/tenants/{slug}/users/{id}/sessions/{sid}', 'End one session and revoke its grants', undefined, 204],
  ['delete', '/tenants/{slug}/users/{id}/mfa', 'Remove a user\'s MFA factors and recovery codes', undefined, 204],
  ['post', '/tenants/{slug}/users/{id}/unlock', 'Lift a lockout and forget failed attempts', undefined, 204],
  ['post', '/tenants/{slug}/resources', 'Register an API resource (RFC 8707 identifier) and its permissions', CreateResource, 201],
  ['get', '/tenants/{slug}/resources', 'List API resources'],
  ['get', '/tenants/{slug}/resources/{id}', 'Read an API resource'],
  ['patch', '/tenants/{slug}/resources/{id}', 'Rename, or replace the permission list (dropped permissions leave every role)', PatchResource],
  ['delete', '/tenants/{slug}/resources/{id}', 'Delete an API resource', undefined, 204],
  ['post', '/tenants/{slug}/roles', 'Create a role bundling permissions', CreateRole, 201],
  ['get', '/tenants/{slug}/roles', 'List roles'],
  ['get', '/tenants/{slug}/roles/{id}', 'Read a role'],
  ['patch', '/tenants/{slug}/roles/{id}', 'Change a role (built-in roles keep their name)', PatchRole],
  ['delete', '/tenants/{slug}/roles/{id}', 'Delete a role (never a built-in one)', undefined, 204],
  ['post', '/tenants/{slug}/groups', 'Create a group', CreateGroup, 201],
  ['get', '/tenants/{slug}/groups', 'List groups'],
  ['get', '/tenants/{slug}/groups/{id}', 'Read a group'],
  ['patch', '/tenants/{slug}/groups/{id}', 'Change a group', PatchGroup],
  ['delete', '/tenants/{slug}/groups/{id}', 'Delete a group', undefined, 204],
  ['get', '/tenants/{slug}/groups/{id}/members', 'The user ids of a group\'s members'],
  ['put', '/tenants/{slug}/groups/{id}/members', 'Replace a group\'s members', GroupMembers],
  ['put', '/tenants/{slug}/groups/{id}/roles', 'Replace a group\'s roles (members hold them)', GroupRoles],
  ['post', '/tenants/{slug}/keys/rotate', 'Rotate the signing key (on ES256 or EdDSA also a new RS256 key for ID Tokens, in rs256_key)', RotateKey, 201],
  ['get', '/tenants/{slug}/keys', 'List public signing keys'],
  ['get', '/tenants/{slug}/audit-events', 'List audit events, newest first (?type=&actor=&since=&until=)'],
  ['post', '/tenants/{slug}/saml-connections', 'Federate a SAML IdP; the answer shows what was read from its metadata and the SP URLs to give it', CreateSamlConnection, 201],
  ['get', '/tenants/{slug}/saml-connections', 'List SAML connections (without their metadata XML)'],
  ['get', '/tenants/{slug}/saml-connections/{name}', 'Read a SAML connection'],
  ['patch', '/tenants/{slug}/saml-connections/{name}', 'Replace any subset of a SAML connection\'s fields (not its name)', PatchSamlConnection],
  ['delete', '/tenants/{slug}/saml-connections/{name}', 'Delete a SAML connection', undefined, 204],
  ['post', '/tenants/{slug}/oidc-connections', 'Federate an upstream OpenID Provider; the answer shows the redirect_uri to register there (never the client secret)', CreateOidcConnection, 201],
  ['get', '/tenants/{slug}/oidc-connections', 'List OIDC connections'],
  ['get', '/tenants/{slug}/oidc-connections/{name}', 'Read an OIDC connection (never its client secret)'],
  ['patch', '/tenants/{slug}/oidc-connections/{name}', 'Replace any subset of an OIDC connection\'s fields (not its name)', PatchOidcConnection],
  ['delete', '/tenants/{slug}/oidc-connections/{name}', 'Delete an OIDC connection', undefined, 204],
  ['get', '/openapi.json', 'This document'],
];

const LIST_PARAMS = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'next_cursor of the previous page' },
];
const EXTRA_QUERY: Record<string, string[]> = {
  '/tenants/{slug}/users': ['search'],
  '/tenants/{slug}/audit-events': ['type', 'actor', 'since', 'until'],
};
const problem = { description: 'Problem details (RFC 9457)', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };

export function openApiDocument(publicUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, summary, body, ok = 200] of OPERATIONS) {
    const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const isList = method === 'get' && /\/(tenants|clients|users|audit-events|saml-connections|oidc-connections|resources|roles|groups)$/.test(path);
    const query = isList ? [...LIST_PARAMS, ...(EXTRA_QUERY[path] ?? []).map((name) => ({ name, in: 'query', schema: { type: 'string' } }))] : [];
    paths[path] ??= {};
    paths[path][method] = {
      summary,
      ...(path === '/openapi.json' ? { security: [] } : {}),
      parameters: [...pathParams, ...query],
      ...(body ? { requestBody: { required: method !== 'post' || !path.endsWith('/rotate'), content: { 'application/json': { schema: z.toJSONSchema(body, { io: 'input' }) } } } } : {}),
      responses: {
        [String(ok)]: { description: ok === 204 ? 'Done' : 'Success', ...(ok === 204 ? {} : { content: { 'application/json': {} } }) },
        default: problem,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Gatehouse admin API', version: '1' },
    servers: [{ url: `${publicUrl}/admin/v1` }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `Access token from any tenant's token endpoint with resource=${publicUrl}/admin` } },
      schemas: {
        Problem: {
          type: 'object',
          properties: {
            type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string' },
            errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
    },
  };
}
