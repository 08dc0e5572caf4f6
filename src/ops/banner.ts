import { VERSION } from '../config/version.js';
import type { Deps } from '../deps.js';
import { findTenantsPage } from '../domain/tenants/tenants.queries.js';
import { issuerOf, SYSTEM_TENANT } from '../domain/tenants/tenants.types.js';

const SHOWN_TENANTS = 5;

/**
 * The start banner (DESIGN.md "Two commands": first start prints how to log in): where the
 * server is and what to do next given what exists, as the fields of one log line.
 */
export async function startBanner(deps: Deps, url: string) {
  const rows = await findTenantsPage(deps.db, { limit: SHOWN_TENANTS + 2 });
  const tenants = rows.filter((t) => t.slug !== SYSTEM_TENANT);
  const { bootstrap, databaseUrl } = deps.config;
  const adminApi = `${url}/admin/v1`;
  const stopFirst = databaseUrl ? '' : ' (the embedded database belongs to one process: stop the server first, or set DATABASE_URL)';
  const adminToken = bootstrap.clientId
    // curl -K - reads the secret from its input, off the process list; no quote or backslash,
    // which the JSON of this log line would escape (a copied command would then send another secret).
    ? `admin token: printf user=${bootstrap.clientId}:%s $GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET | curl -s -K - -d grant_type=client_credentials -d resource=${url}/admin ${issuerOf(url, SYSTEM_TENANT)}/token`
    : 'for the admin API, set GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID and GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET (or _EMAIL and _PASSWORD) and restart';
  const common = { url, version: VERSION, admin_api: adminApi, discovery_pattern: `${url}/t/{slug}/.well-known/openid-configuration` };
  if (!tenants.length) {
    return {
      ...common,
      tenants: 0,
      next: `No tenant yet. Create one: npx gatehouse tenant create acme --name "Acme Inc"${stopFirst}; then a client and a user (npx gatehouse --help); ${adminToken}`,
    };
  }
  const more = tenants.length > SHOWN_TENANTS;
  return {
    ...common,
    tenants: more ? `more than ${SHOWN_TENANTS}` : tenants.length,
    discovery: tenants.slice(0, SHOWN_TENANTS).map((t) => `${issuerOf(url, t.slug)}/.well-known/openid-configuration`),
    next: `Point a client at a tenant's discovery URL (npx gatehouse client list --tenant SLUG); ${adminToken}`,
  };
}
