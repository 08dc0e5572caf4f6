import { findTenantBySlug } from '../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../src/domain/tenants/tenants.types.js';
import type { TestGatehouse } from './gatehouse.js';

/** A real admin access token: a client_credentials client with `roles`, at the tenant's token endpoint. */
export async function adminToken(gh: TestGatehouse, tenant: Tenant, roles: string[]) {
  const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], admin_access: true }, roles);
  return { ...app, token: await clientCredentialsToken(gh, tenant.slug, app.clientId, app.clientSecret!) };
}

/** HTTP Basic client authentication (RFC 6749 §2.3.1: each part form-encoded first). */
export function basicAuth(clientId: string, secret: string) {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export async function clientCredentialsToken(gh: TestGatehouse, slug: string, clientId: string, secret: string, resource = `${gh.url}/admin`, scope?: string) {
  const res = await fetch(`${gh.url}/t/${slug}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(clientId, secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, ...(scope ? { scope } : {}) }),
  });
  const body = await res.json();
  if (!res.ok) throw Object.assign(new Error(`token request failed: ${JSON.stringify(body)}`), body);
  return body.access_token as string;
}

export interface ApiAnswer {
  status: number;
  type: string;
  headers: Headers;
  body: any;
}

/** Calls the admin API; `body` as a string is sent as is (for malformed JSON). */
export function adminApi(gh: TestGatehouse, token?: string) {
  return async (method: string, path: string, body?: unknown): Promise<ApiAnswer> => {
    const res = await fetch(`${gh.url}/admin/v1${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}

/** The admin API as a system-admin client of the system tenant. */
export async function systemAdminApi(gh: TestGatehouse) {
  const system = (await findTenantBySlug(gh.deps.db, 'system'))!;
  return adminApi(gh, (await adminToken(gh, system, ['system-admin'])).token);
}
