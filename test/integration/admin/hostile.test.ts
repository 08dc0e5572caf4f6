import { decodeJwt } from 'jose';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminApi, adminToken, systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let tenant: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let operations: [string, string][];
/** Operations that take a request body at all. */
const withBody = new Set<string>();
const records: Record<string, string> = {};

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  api = await systemAdminApi(gh);
  const doc = (await api('GET', '/openapi.json')).body;
  operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), path] as [string, string]));
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, { requestBody?: unknown }>>)) {
    for (const [m, op] of Object.entries(methods)) if (op.requestBody) withBody.add(`${m.toUpperCase()} ${path}`);
  }
  const at = `/tenants/${tenant.slug}`;
  records.users = (await api('POST', `${at}/users`, { email: 'h@example.com' })).body.id;
  records.clients = (await api('POST', `${at}/clients`, { client_name: 'H', redirect_uris: ['https://h.example/cb'] })).body.client_id;
  records.resources = (await api('POST', `${at}/resources`, { identifier: 'https://h.example/api', name: 'H' })).body.id;
  records.roles = (await api('POST', `${at}/roles`, { name: 'h-role' })).body.id;
  records.groups = (await api('POST', `${at}/groups`, { name: 'h-group' })).body.id;
});
afterAll(() => gh.stop());

const fill = (template: string) => template.replace(/\/([a-z-]+)\/\{(\w+)\}/g, (_m, family: string, param: string) =>
  `/${family}/${param === 'slug' ? tenant.slug : encodeURIComponent(records[family] ?? 'x')}`);

const HOSTILE_BODIES: unknown[] = [
  '{"unterminated": ', '[]', 'null', '"a string"', '42', '{"__proto__": {"admin": true}}',
  { name: "x'; drop table users; --", email: "' or 1=1 --@example.com", slug: '../../etc', identifier: 'javascript:alert(1)' },
  { name: 'lone \uD800 surrogate', description: 'x\uDC00' },
  { name: 'nul\u0000name', email: 'a\u0000@example.com', description: 'd\u0000', roles: ['r\u0000'] },
  { name: 'x'.repeat(20_000), description: '\u0000\uFFFF\uD800', roles: Array(5000).fill('r'), user_ids: Array(5000).fill('x'), permissions: [{ name: 'p'.repeat(300) }] },
];

describe('hostile input on every admin route', () => {
  it('answers 4xx problem+json, never a 500, to malformed, oversized and injection-laden bodies', async () => {
    const bad: string[] = [];
    for (const [method, path] of operations.filter(([m]) => m !== 'GET' && m !== 'DELETE')) {
      for (const body of HOSTILE_BODIES) {
        const res = await api(method, fill(path), body);
        if (res.status >= 500 || (res.status >= 400 && !res.type.includes('application/problem+json'))) bad.push(`${method} ${path} ${JSON.stringify(body).slice(0, 40)} → ${res.status}`);
        if (res.status < 300 && typeof body === 'string' && withBody.has(`${method} ${path}`)) bad.push(`${method} ${path} accepted ${body}`);
      }
    }
    expect(bad).toEqual([]);
    // The tenant's tables are intact.
    expect((await api('GET', `/tenants/${tenant.slug}/users/${records.users}`)).status).toBe(200);
  });

  it('answers 404, never a 500, to hostile path parameters and query strings', async () => {
    const bad: string[] = [];
    const params = ["'%20or%201=1--", '..%2F..%2Fsystem', 'x'.repeat(3000), '%00', '%E2%80%AE'];
    const named = operations.filter(([, p]) => p === '/tenants/{slug}' || /\{(?!slug\})\w+\}/.test(p));
    expect(named.length).toBeGreaterThan(20);
    for (const [method, path] of named) {
      for (const p of params) {
        // The tenant itself is attacked through {slug} only where nothing else can be.
        const url = (path === '/tenants/{slug}' ? path : path.replace('{slug}', tenant.slug)).replace(/\{\w+\}/g, p);
        const res = await api(method, url, method === 'GET' || method === 'DELETE' ? undefined : {});
        if (res.status >= 500 || res.status < 400) bad.push(`${method} ${url.slice(0, 60)} → ${res.status}`);
      }
    }
    for (const q of [`cursor=${Buffer.from(JSON.stringify({ k: 'a\u0000' })).toString('base64url')}`, 'search=%00', 'actor=%00', 'limit=-1', 'limit=abc', 'cursor=%00', 'search=%25%5F', 'since=yesterday', 'type=' + 'x'.repeat(5000)]) {
      for (const list of ['users', 'audit-events', 'roles', 'groups', 'resources', 'clients']) {
        const res = await api('GET', `/tenants/${tenant.slug}/${list}?${q}`);
        if (res.status >= 500) bad.push(`GET ${list}?${q.slice(0, 30)} → ${res.status}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('refuses an expired admin token with 401', async () => {
    const system = (await findTenantBySlug(gh.deps.db, 'system'))!;
    const short = await gh.tenant();
    // Long enough to be used once on a loaded machine, short enough to wait out.
    await api('PATCH', `/tenants/${short.slug}`, { access_token_ttl: 4 });
    const { token } = await adminToken(gh, short, ['tenant-admin']);
    expect((await adminApi(gh, token)('GET', `/tenants/${short.slug}`)).status).toBe(200);
    const { exp } = decodeJwt(token);
    await new Promise((r) => setTimeout(r, exp! * 1000 + 1100 - Date.now()));
    const res = await adminApi(gh, token)('GET', `/tenants/${short.slug}`);
    expect(res).toMatchObject({ status: 401, body: { code: 'invalid_token' } });
    expect(system.slug).toBe('system');
  });

  it('logs no unexpected error for any of it', () => {
    expect(logLines.filter((l) => /"level":"error"/.test(l))).toEqual([]);
  });
});
