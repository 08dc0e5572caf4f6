import { adminRoutes, ADMIN_PREFIX } from '../../../src/admin/admin.routes.js';
import { openApiDocument } from '../../../src/admin/openapi.js';
import type { Deps } from '../../../src/deps.js';
import type { TenantRegistry } from '../../../src/tenancy/registry.js';

// Building the router touches neither database nor network: deps are only captured.
const router = adminRoutes({ config: { publicUrl: 'http://gatehouse.test' } } as unknown as Deps, {} as TenantRegistry);
const doc = openApiDocument('http://gatehouse.test');

function routed() {
  const out = new Set<string>();
  for (const layer of router.stack) {
    if (!layer.methods.length) continue; // `use` middleware
    const path = String(layer.path).slice(ADMIN_PREFIX.length).replace(/:(\w+)/g, '{$1}');
    for (const m of layer.methods) if (m !== 'HEAD') out.add(`${m.toLowerCase()} ${path}`);
  }
  return out;
}

function documented() {
  const out = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) out.add(`${m} ${path}`);
  return out;
}

describe('OpenAPI document', () => {
  it('documents every route of the admin router', () => {
    expect(routed().size).toBeGreaterThan(20);
    const docs = documented();
    expect([...routed()].filter((r) => !docs.has(r))).toEqual([]);
  });

  it('documents no route that does not exist', () => {
    const routes = routed();
    expect([...documented()].filter((d) => !routes.has(d))).toEqual([]);
  });

  it('is OpenAPI 3.1 with request schemas that refuse unknown fields', () => {
    expect(doc.openapi).toBe('3.1.0');
    const body = (doc.paths['/tenants'].post as any).requestBody.content['application/json'].schema;
    expect(body).toMatchObject({ type: 'object', additionalProperties: false, required: ['slug'] });
  });
});
