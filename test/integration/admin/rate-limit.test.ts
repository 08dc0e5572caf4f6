import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminApi, adminToken } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let system: Tenant;

beforeAll(async () => {
  gh = await startTestGatehouse();
  system = (await findTenantBySlug(gh.deps.db, 'system'))!;
});
afterAll(() => gh.stop());

describe('admin API rate limit per principal', () => {
  it('answers 429 problem+json with Retry-After past the limit, to that principal only', async () => {
    const busy = adminApi(gh, (await adminToken(gh, system, ['system-admin'])).token);
    const other = adminApi(gh, (await adminToken(gh, system, ['system-admin'])).token);
    gh.config.adminRateLimit = { limit: 3, window_seconds: 60 };
    try {
      for (let i = 0; i < 3; i++) expect((await busy('GET', '/tenants/system')).status).toBe(200);
      const refused = await busy('GET', '/tenants/system');
      expect(refused.status).toBe(429);
      expect(refused.type).toContain('application/problem+json');
      expect(refused.body).toMatchObject({ status: 429, code: 'rate_limited', title: 'Too Many Requests' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      // Every route counts, and the refusal comes before the route's own work.
      expect((await busy('POST', '/tenants', { slug: 'never-made' })).status).toBe(429);
      expect((await gh.deps.db('tenants').where({ slug: 'never-made' })).length).toBe(0);
      expect((await other('GET', '/tenants/system')).status).toBe(200);
    } finally {
      gh.config.adminRateLimit = undefined;
    }
  });

  it('does not count requests without a valid token against anyone', async () => {
    gh.config.adminRateLimit = { limit: 1, window_seconds: 60 };
    try {
      const anonymous = adminApi(gh);
      for (let i = 0; i < 3; i++) expect((await anonymous('GET', '/tenants/system')).status).toBe(401);
      expect((await adminApi(gh, (await adminToken(gh, system, ['system-admin'])).token)('GET', '/tenants/system')).status).toBe(200);
    } finally {
      gh.config.adminRateLimit = undefined;
    }
  });
});
