import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { CLI_ACTOR } from '../../../src/deps.js';
import { insertRole } from '../../../src/domain/rbac/rbac.queries.js';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import { assignUserRoles } from '../../../src/domain/users/users.service.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
afterAll(() => gh.stop());
beforeAll(async () => {
  gh = await startTestGatehouse();
});

const API = 'https://api.example.com/inventory';

describe('roles and permissions in a user flow', () => {
  it('puts role names in the id_token and userinfo, and scopes the resource token by role, re-evaluated on refresh', async () => {
    const tenant = await gh.tenant();
    const issuer = `${gh.url}/t/${tenant.slug}`;
    const db = gh.deps.db;
    const resourceId = randomUUID();
    await db('resources').insert({ tenant_id: tenant.id, id: resourceId, identifier: API, name: 'Inventory' });
    await db('permissions').insert([{ tenant_id: tenant.id, resource_id: resourceId, name: 'read:stock' }, { tenant_id: tenant.id, resource_id: resourceId, name: 'write:stock' }]);
    const clerk = await insertRole(db, tenant.id, { name: 'clerk' });
    await db('role_permissions').insert({ tenant_id: tenant.id, role_id: clerk.id, resource_id: resourceId, permission: 'read:stock' });
    await insertRole(db, tenant.id, { name: 'auditor' });
    const user = await gh.user(tenant, { roles: ['clerk'] });
    const app = await gh.client(tenant);
    const rp = await RelyingParty.discover({ issuer, ...app });

    const tokens = await rp.login(user, { scope: 'openid roles offline_access read:stock write:stock', resource: API });
    expect(tokens.claims()!.roles).toEqual(['clerk']);
    const { payload } = await jose.jwtVerify(tokens.access_token, jose.createRemoteJWKSet(new URL(`${issuer}/jwks`)), { issuer, audience: API });
    expect(payload.scope).toBe('read:stock');

    // A role change holds from the next token on.
    await assignUserRoles(db, tenant, user.id, ['auditor'], CLI_ACTOR);
    const refreshed = await rp.refresh(tokens.refresh_token!, { resource: API });
    const after = jose.decodeJwt(refreshed.access_token);
    expect(after.scope ?? '').toBe('');
    const idAfter = jose.decodeJwt(refreshed.id_token!);
    expect(idAfter.roles).toEqual(['auditor']);
  });
});

describe('bootstrap from the environment', () => {
  it('creates the system admin client and user once', async () => {
    const { bootstrapAdmins } = await import('../../../src/bootstrap.js');
    const secret = 'x'.repeat(40);
    gh.deps.config.bootstrap = { clientId: 'boot-admin', clientSecret: secret, email: 'root@example.com', password: 'root password 123' };
    const system = (await findTenantBySlug(gh.deps.db, 'system'))!;
    await bootstrapAdmins(gh.deps, system);
    await bootstrapAdmins(gh.deps, system); // idempotent
    const issuer = `${gh.url}/t/system`;
    const rp = await RelyingParty.discover({ issuer, clientId: 'boot-admin', clientSecret: secret, redirectUri: 'http://127.0.0.1:9/cb' });
    const tokens = await rp.clientCredentials({ resource: `${gh.url}/admin` });
    expect(jose.decodeJwt(tokens.access_token)).toMatchObject({ aud: `${gh.url}/admin`, client_id: 'boot-admin', iss: issuer });
    const users = await gh.deps.db('users').where({ tenant_id: system.id, email_normalized: 'root@example.com' });
    expect(users).toHaveLength(1);
    expect(users[0].password_hash).toMatch(/^\$2[aby]\$/);

    // Two nodes starting together with new bootstrap settings: both start, one of each is made.
    gh.deps.config.bootstrap = { clientId: 'boot-admin-2', clientSecret: secret, email: 'root2@example.com', password: 'root password 123' };
    await Promise.all([bootstrapAdmins(gh.deps, system), bootstrapAdmins(gh.deps, system)]);
    expect(await gh.deps.db('clients').where({ tenant_id: system.id, client_id: 'boot-admin-2' })).toHaveLength(1);
    expect(await gh.deps.db('users').where({ tenant_id: system.id, email_normalized: 'root2@example.com' })).toHaveLength(1);
  });
});
