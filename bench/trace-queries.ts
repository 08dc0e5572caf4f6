/**
 * Prints the SQL that one client_credentials grant and one password login make, request by
 * request (`npx tsx bench/trace-queries.ts`): the quickest way to see where queries come from.
 * TRACE_BINDINGS=1 also prints each statement's values (the first 200 characters).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { startGatehouse } from '../src/app.js';
import type { Config } from '../src/config/load.js';
import { CLI_ACTOR } from '../src/deps.js';
import { registerClient } from '../src/domain/clients/clients.service.js';
import { insertRole } from '../src/domain/rbac/rbac.queries.js';
import { createTenant } from '../src/domain/tenants/tenants.service.js';
import { createUser } from '../src/domain/users/users.service.js';
import { configureLogger } from '../src/log/logger.js';
import { clientValidator } from '../src/tenancy/validate-client.js';
import { freshDatabase } from '../test/support/database.js';
import { Browser, csrfOf } from '../test/support/browser.js';

configureLogger({ silent: true });
const db = await freshDatabase('gh_trace');
const config: Config = {
  production: false, port: 0, publicUrl: '', publicUrlFixed: false, trustProxy: [], databaseUrl: db.url, redisUrl: process.env.REDIS_URL || undefined,
  dataDir: db.dataDir!, masterKey: randomBytes(32).toString('base64'), bootstrap: {}, bcryptCost: 4, logLevel: 'error',
  outboundAllow: [],
};
const gh = await startGatehouse(config, { kvPrefix: `ghtrace:${randomBytes(4).toString('hex')}:` });
try {
  const tenant = await createTenant(gh.deps, { slug: `trace-${randomBytes(3).toString('hex')}` }, CLI_ACTOR);
  const API = 'https://api.trace.invalid/orders';
  const resourceId = randomUUID();
  await gh.deps.db('resources').insert({ tenant_id: tenant.id, id: resourceId, identifier: API, name: 'Orders' });
  await gh.deps.db('permissions').insert({ tenant_id: tenant.id, resource_id: resourceId, name: 'read:orders' });
  const role = await insertRole(gh.deps.db, tenant.id, { name: 'reader' });
  await gh.deps.db('role_permissions').insert({ tenant_id: tenant.id, role_id: role.id, resource_id: resourceId, permission: 'read:orders' });
  const validate = clientValidator(gh.registry);
  const svc = await registerClient(gh.deps, tenant, { metadata: { grant_types: ['client_credentials'], redirect_uris: [] }, roles: ['reader'] }, CLI_ACTOR, validate);
  const redirect = 'http://127.0.0.1:9/cb';
  const web = await registerClient(gh.deps, tenant, { metadata: { redirect_uris: [redirect] } }, CLI_ACTOR, validate);
  const password = 'correct horse battery';
  const user = await createUser(gh.deps, tenant, { email: 'trace@example.com', password }, CLI_ACTOR);
  void user;
  const issuer = `${gh.url}/t/${tenant.slug}`;
  const basic = (id: string, s: string) => `Basic ${Buffer.from(`${id}:${s}`).toString('base64')}`;
  const token = (auth: string, params: Record<string, string>) =>
    fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) }).then((r) => r.json());
  await token(basic(svc.client.clientId, svc.secret!), { grant_type: 'client_credentials', resource: API, scope: 'read:orders' }); // warm

  let n = 0;
  gh.deps.db.on('query', (q: { sql: string; bindings?: unknown[] }) => console.log(`    ${++n}. ${q.sql.replace(/\s+/g, ' ').slice(0, 150)}${process.env.TRACE_BINDINGS ? ` ${JSON.stringify(q.bindings ?? []).slice(0, 200)}` : ''}`));
  const step = (label: string) => console.log(`  -- ${label}`);
  console.log('client_credentials grant:');
  step('POST /token');
  await token(basic(svc.client.clientId, svc.secret!), { grant_type: 'client_credentials', resource: API, scope: 'read:orders' });
  const login = async () => {
    const b = new Browser();
    const verifier = randomBytes(32).toString('base64url');
    const q = new URLSearchParams({ client_id: web.client.clientId, redirect_uri: redirect, response_type: 'code', scope: 'openid profile email offline_access', prompt: 'consent', state: 'x', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' });
    const origin = new URL(issuer).origin;
    const get = async (url: string) => { step(`GET ${new URL(url).pathname}`); const r = await b.get(url); return r; };
    let r = await get(`${issuer}/auth?${q}`);
    let loc = new URL(r.headers.get('location')!, issuer).toString();
    r = await get(loc);
    const html = await r.text();
    step('POST login');
    r = await b.post(`${loc}/login`, { csrf: csrfOf(html), email: 'trace@example.com', password });
    r = await get(new URL(r.headers.get('location')!, origin).toString());
    loc = new URL(r.headers.get('location')!, origin).toString();
    r = await get(loc);
    const chtml = await r.text();
    step('POST confirm');
    r = await b.post(`${loc}/confirm`, { csrf: csrfOf(chtml), decision: 'allow' });
    r = await get(new URL(r.headers.get('location')!, origin).toString());
    const code = new URL(r.headers.get('location')!).searchParams.get('code')!;
    step('POST /token');
    const t = await token(basic(web.client.clientId, web.secret!), { grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: verifier });
    if (!t.id_token) throw new Error(JSON.stringify(t));
  };
  // The first login also fills this node's caches (the client, the tenant's connections): the
  // second is what every further login costs.
  for (const label of ['password login (first on this node):', 'password login (warm):']) {
    n = 0;
    console.log(label);
    await login();
    console.log(`total: ${n} queries`);
  }
} finally {
  gh.server.closeAllConnections?.();
  await gh.close();
  await db.drop();
}
