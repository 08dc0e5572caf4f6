import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let tenant: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());

const users = (t: Tenant = tenant) => `/tenants/${t.slug}/users`;

describe('password policy in the admin API', () => {
  it.each([
    ['password', 'password is one of the most common passwords'],
    ['123456789', 'password is one of the most common passwords'],
    ['Qwerty123', 'password is one of the most common passwords'],
    ['short', 'password must be at least 8 characters'],
  ])('refuses to create a user with %j, naming the field and the rule', async (password, message) => {
    const res = await api('POST', users(), { email: `p-${Date.now()}-${password.length}@example.com`, password });
    expect(res.status).toBe(400);
    expect(res.type).toContain('application/problem+json');
    expect(res.body).toMatchObject({ code: 'password_policy', errors: [{ field: 'password', message }] });
  });

  it('refuses an over-long password as an invalid field', async () => {
    const res = await api('POST', users(), { email: `long-${Date.now()}@example.com`, password: 'x'.repeat(1025) });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'password', message: expect.any(String) }]);
  });

  it('refuses the same when an admin sets a password', async () => {
    const created = await api('POST', users(), { email: `set-${Date.now()}@example.com`, password: 'an uncommon passphrase' });
    expect(created.status).toBe(201);
    for (const password of ['password', '123456789', 'short']) {
      const res = await api('PUT', `${users()}/${created.body.id}/password`, { password });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field: 'password', message: expect.stringMatching(/^password (is one of the most common passwords|must be at least 8 characters)$/) }]);
    }
    expect((await api('PUT', `${users()}/${created.body.id}/password`, { password: 'another uncommon one' })).status).toBe(204);
  });

  it('follows the tenant settings: a longer minimum, common passwords allowed when block_common is off', async () => {
    const strict = await gh.tenant();
    await api('PATCH', `/tenants/${strict.slug}`, { password_policy: { min_length: 16 } });
    const short = await api('POST', users(strict), { email: 'a@example.com', password: 'fifteen chars!!' });
    expect(short.body.errors).toEqual([{ field: 'password', message: 'password must be at least 16 characters' }]);

    const lax = await gh.tenant();
    await api('PATCH', `/tenants/${lax.slug}`, { password_policy: { block_common: false } });
    expect((await api('POST', users(lax), { email: 'b@example.com', password: 'password' })).status).toBe(201);
  });
});
