import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { adminRoutes, ADMIN_PREFIX } from '../../../src/admin/admin.routes.js';
import { DOCUMENT_PATH, openApiDocument, OPERATIONS } from '../../../src/admin/openapi.js';
import type { Deps } from '../../../src/deps.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import type { TenantRegistry } from '../../../src/tenancy/registry.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

const run = promisify(execFile);
const ROOT = resolve('.');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

// Building the router touches neither database nor network: deps are only captured.
const router = adminRoutes({ config: { publicUrl: 'http://gatehouse.test' } } as unknown as Deps, {} as TenantRegistry);
const staticDoc = openApiDocument('http://gatehouse.test') as any;

/** `method path` of every route the admin router serves, in the document's `{param}` form. */
function routed() {
  const out = new Set<string>();
  for (const layer of router.stack) {
    if (!layer.methods.length) continue; // `use` middleware
    const path = String(layer.path).slice(ADMIN_PREFIX.length).replace(/:(\w+)/g, '{$1}');
    if (path === DOCUMENT_PATH) continue; // the document does not describe itself
    for (const m of layer.methods) if (m !== 'HEAD') out.add(`${m.toLowerCase()} ${path}`);
  }
  return out;
}

function documented(doc: any) {
  const out = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops as object)) out.add(`${m} ${path}`);
  return out;
}

const operationsOf = (doc: any) => Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops as object).map(([method, op]) => ({ path, method, op: op as any })));

describe('OpenAPI document, as built', () => {
  it('has an operation for every route of the admin router', () => {
    expect(routed().size).toBeGreaterThan(45);
    const docs = documented(staticDoc);
    expect([...routed()].filter((r) => !docs.has(r))).toEqual([]);
  });

  it('has no operation for a route that does not exist', () => {
    const routes = routed();
    expect([...documented(staticDoc)].filter((d) => !routes.has(d))).toEqual([]);
  });

  it('gives every operation a unique camelCase operationId, a declared tag and a success answer', () => {
    const ids = operationsOf(staticDoc).map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z]+[A-Za-z]*$/);
    const tags = new Set(staticDoc.tags.map((t: any) => t.name));
    for (const { method, path, op } of operationsOf(staticDoc)) {
      expect([method, path, op.tags.every((t: string) => tags.has(t))]).toEqual([method, path, true]);
      const ok = Object.keys(op.responses).filter((s) => s.startsWith('2'));
      expect(ok).toHaveLength(1);
      const success = op.responses[ok[0]];
      // Every answer with a body has a schema; 204 has none.
      if (ok[0] === '204') expect(success.content).toBeUndefined();
      else expect(success.content['application/json'].schema.$ref).toMatch(/^#\/components\/schemas\//);
      // Errors are problem+json through the shared responses.
      for (const s of ['401', '403', '429', '503']) expect(op.responses[s].$ref).toMatch(/^#\/components\/responses\//);
      if (path.includes('{slug}')) expect(op.responses['404']).toBeDefined();
      if (op.requestBody) expect(op.responses['400']).toBeDefined();
    }
    expect(staticDoc.components.responses.NotFound.content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
  });

  it('takes request schemas from the zod schemas the routes parse with (strict objects refuse unknown fields)', () => {
    expect(staticDoc.openapi).toBe('3.1.0');
    const body = staticDoc.components.schemas.CreateTenantRequest;
    expect(body).toMatchObject({ type: 'object', additionalProperties: false, required: ['slug'] });
    // Client metadata stays open: the tenant's provider checks other names.
    expect(staticDoc.components.schemas.CreateClientRequest.additionalProperties).not.toBe(false);
    const list = staticDoc.paths['/tenants/{slug}/users'].get;
    expect(list.parameters.map((p: any) => p.name)).toEqual(['slug', 'limit', 'cursor', 'search']);
    expect(staticDoc.components.schemas.UserList.properties.items.items).toEqual({ $ref: '#/components/schemas/User' });
  });

  it('keeps every declared operation in the document (the lists beside the routes are its only source)', () => {
    const declared = OPERATIONS.map((o) => o.operationId).sort();
    expect(operationsOf(staticDoc).map((o) => o.op.operationId).sort()).toEqual(declared);
  });
});

describe('OpenAPI document, as served', () => {
  let gh: TestGatehouse;
  let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
  let doc: any;
  let tmp: string;
  let tenant: Tenant;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    api = await systemAdminApi(gh);
    tenant = await gh.tenant();
    const res = await fetch(`${gh.url}/admin/v1/openapi.json`);
    expect(res.status).toBe(200);
    doc = await res.json();
    tmp = mkdtempSync(join(tmpdir(), 'gatehouse-openapi-'));
    writeFileSync(join(tmp, 'openapi.json'), JSON.stringify(doc));
  }, 120_000);
  afterAll(async () => {
    rmSync(tmp, { recursive: true, force: true });
    await gh.stop();
  });

  it('passes Redocly\'s recommended lint rules without an error or a warning', async () => {
    const { stdout } = await run(bin('redocly'), ['lint', join(tmp, 'openapi.json'), '--format=json'], {
      cwd: tmp, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }, maxBuffer: 16 << 20,
    });
    const report = JSON.parse(stdout);
    expect(report.problems.map((p: any) => `${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 120_000);

  describe('real answers validate against the document\'s schemas', () => {
    const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
    let ajv: InstanceType<typeof Ajv2020>;
    beforeAll(() => {
      ajv = new Ajv2020({ strict: false, allErrors: true });
      (addFormats as any)(ajv);
      ajv.addSchema({ ...doc, $id: 'gatehouse-admin' });
    });

    /** The schema the document gives for this operation's answer with this status. */
    function check(method: string, path: string, answer: ApiAnswer) {
      const op = doc.paths[path][method];
      expect(op).toBeDefined();
      let response = op.responses[String(answer.status)];
      expect([method, path, answer.status, response !== undefined]).toEqual([method, path, answer.status, true]);
      if (response.$ref) response = response.$ref.split('/').slice(1).reduce((o: any, k: string) => o[k], doc);
      const mediaType = answer.status >= 400 ? 'application/problem+json' : 'application/json';
      expect(answer.type).toContain(mediaType);
      const validate = ajv.compile({ $ref: `gatehouse-admin${response.content[mediaType].schema.$ref}` });
      const valid = validate(answer.body);
      expect([method, path, valid ? [] : validate.errors]).toEqual([method, path, []]);
    }

    it('tenant: create, read, change, list', async () => {
      const slug = `oa-${Date.now().toString(36)}`;
      const created = await api('POST', '/tenants', { slug, name: 'OpenAPI Co' });
      expect(created.status).toBe(201);
      check('post', '/tenants', created);
      check('get', '/tenants/{slug}', await api('GET', `/tenants/${slug}`));
      check('patch', '/tenants/{slug}', await api('PATCH', `/tenants/${slug}`, { session_ttl: 7200 }));
      check('get', '/tenants', await api('GET', '/tenants?limit=2'));
      // A deliberately wrong answer must fail, or the check proves nothing.
      const broken = { ...(await api('GET', `/tenants/${slug}`)) };
      broken.body = { ...broken.body, lockout: 'none' };
      expect(() => check('get', '/tenants/{slug}', broken)).toThrow();
    });

    it('client: create (with its secret), read, list, rotate the secret, replace roles', async () => {
      const created = await api('POST', `/tenants/${tenant.slug}/clients`, { client_name: 'Typed', redirect_uris: ['https://typed.example/cb'], grant_types: ['authorization_code', 'refresh_token'] });
      expect(created.status).toBe(201);
      check('post', '/tenants/{slug}/clients', created);
      const id = created.body.client_id;
      check('get', '/tenants/{slug}/clients/{client_id}', await api('GET', `/tenants/${tenant.slug}/clients/${id}`));
      check('get', '/tenants/{slug}/clients', await api('GET', `/tenants/${tenant.slug}/clients`));
      check('post', '/tenants/{slug}/clients/{client_id}/secret', await api('POST', `/tenants/${tenant.slug}/clients/${id}/secret`));
      check('put', '/tenants/{slug}/clients/{client_id}/roles', await api('PUT', `/tenants/${tenant.slug}/clients/${id}/roles`, { roles: ['tenant-admin'] }));
    });

    it('user: create, read with direct roles and groups, list, sessions; group, role, resource, keys, audit', async () => {
      const s = `/tenants/${tenant.slug}`;
      const resource = await api('POST', `${s}/resources`, { identifier: 'https://api.typed.example', name: 'Typed API', permissions: [{ name: 'read', description: 'Read' }] });
      check('post', '/tenants/{slug}/resources', resource);
      const role = await api('POST', `${s}/roles`, { name: 'reader', permissions: [{ resource: 'https://api.typed.example', permission: 'read' }] });
      check('post', '/tenants/{slug}/roles', role);
      check('get', '/tenants/{slug}/roles', await api('GET', `${s}/roles`));
      const user = await api('POST', `${s}/users`, { email: 'typed@example.com', name: 'Typed User', roles: ['reader'] });
      check('post', '/tenants/{slug}/users', user);
      expect(user.body).toMatchObject({ roles: ['reader'], groups: [] });
      const group = await api('POST', `${s}/groups`, { name: 'Typists' });
      check('post', '/tenants/{slug}/groups', group);
      check('put', '/tenants/{slug}/groups/{id}/members', await api('PUT', `${s}/groups/${group.body.id}/members`, { user_ids: [user.body.id] }));
      check('put', '/tenants/{slug}/groups/{id}/roles', await api('PUT', `${s}/groups/${group.body.id}/roles`, { roles: ['tenant-admin'] }));

      const read = await api('GET', `${s}/users/${user.body.id}`);
      check('get', '/tenants/{slug}/users/{id}', read);
      // Direct roles only: tenant-admin comes through the group and shows there.
      expect(read.body).toMatchObject({ roles: ['reader'], groups: [{ id: group.body.id, name: 'Typists' }] });
      const list = await api('GET', `${s}/users?search=typed`);
      check('get', '/tenants/{slug}/users', list);
      expect(list.body.items[0]).toMatchObject({ email: 'typed@example.com', roles: ['reader'], groups: [{ name: 'Typists' }] });
      check('patch', '/tenants/{slug}/users/{id}', await api('PATCH', `${s}/users/${user.body.id}`, { name: 'Typed Person' }));
      check('get', '/tenants/{slug}/users/{id}/sessions', await api('GET', `${s}/users/${user.body.id}/sessions`));
      check('get', '/tenants/{slug}/keys', await api('GET', `${s}/keys`));
      check('post', '/tenants/{slug}/keys/rotate', await api('POST', `${s}/keys/rotate`, { alg: 'ES256' }));
      check('get', '/tenants/{slug}/audit-events', await api('GET', `${s}/audit-events?limit=5`));
    });

    it('problems: 400, 401, 404 and 409 answers are the shared Problem', async () => {
      const bad = await api('POST', '/tenants', { slug: 'No Such Slug!' });
      expect(bad.status).toBe(400);
      check('post', '/tenants', bad);
      const missing = await api('GET', `/tenants/${tenant.slug}/users/00000000-0000-4000-8000-000000000000`);
      expect(missing.status).toBe(404);
      check('get', '/tenants/{slug}/users/{id}', missing);
      const taken = await api('POST', '/tenants', { slug: tenant.slug });
      expect(taken.status).toBe(409);
      check('post', '/tenants', taken);
      const res = await fetch(`${gh.url}/admin/v1/tenants`);
      const anonymous = { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, body: await res.json() };
      expect(anonymous.status).toBe(401);
      check('get', '/tenants', anonymous);
    });
  });

  it('generates a typed client with openapi-typescript that type-checks a script using it, and refuses a misuse', async () => {
    const out = join(tmp, 'client');
    await run(bin('openapi-typescript'), [`${gh.url}/admin/v1/openapi.json`, '-o', join(out, 'admin-api.d.ts')], { cwd: tmp });
    const generated = readFileSync(join(out, 'admin-api.d.ts'), 'utf8');
    expect(generated).toContain('createTenant');
    cpSync(join(ROOT, 'test/fixtures/admin-client/use-client.ts'), join(out, 'use-client.ts'));
    symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
    writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['ES2022', 'DOM'] },
      files: ['use-client.ts'],
    }));
    const tsc = await run(bin('tsc'), ['-p', join(out, 'tsconfig.json')], { cwd: out }).then(() => '', (err) => String(err.stdout));
    expect(tsc).toBe('');

    // The same script with the misuse made legal must fail: @ts-expect-error is then unused.
    const loose = readFileSync(join(out, 'use-client.ts'), 'utf8').replace('users.data?.items[0]?.password', 'users.data?.items[0]?.email ?? \'\'');
    writeFileSync(join(out, 'use-client.ts'), loose);
    const unused = await run(bin('tsc'), ['-p', join(out, 'tsconfig.json')], { cwd: out }).then(() => '', (err) => String(err.stdout));
    expect(unused).toContain('TS2578'); // Unused '@ts-expect-error' directive
  }, 180_000);
});
