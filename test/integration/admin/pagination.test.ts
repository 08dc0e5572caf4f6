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

/** Walks a list page by page, running `between` after each page (writes racing the walk). */
async function walk(path: string, limit: number, between: (page: number) => Promise<unknown>) {
  const seen: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res = await api('GET', `${path}${path.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    seen.push(...res.body.items);
    cursor = res.body.next_cursor;
    if (!cursor) return seen;
    await between(page);
  }
  throw new Error('the walk did not end');
}

describe('keyset pagination under concurrent inserts', () => {
  it('lists every user that existed before the walk exactly once while others are added', async () => {
    const before = [];
    for (let i = 0; i < 23; i++) before.push((await api('POST', `/tenants/${tenant.slug}/users`, { email: `m${String(i).padStart(2, '0')}@example.com` })).body.id);
    // Inserts land before, inside and after the part already walked.
    const seen = await walk(`/tenants/${tenant.slug}/users`, 5, (page) => Promise.all(['a', 'm10x', 'z'].map((p) =>
      api('POST', `/tenants/${tenant.slug}/users`, { email: `${p}${page}@example.com` }))));
    const ids = seen.map((u) => u.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of before) expect(ids).toContain(id);
    const emails = seen.map((u) => u.email);
    expect([...emails].sort()).toEqual(emails);
  });

  it('pages audit events newest first without repeats while events are appended', async () => {
    const start = (await api('GET', `/tenants/${tenant.slug}/audit-events?limit=1`)).body.items[0].id;
    const seen = await walk(`/tenants/${tenant.slug}/audit-events`, 7, (page) =>
      api('POST', `/tenants/${tenant.slug}/groups`, { name: `g${page}` }));
    const ids = seen.map((e) => Number(e.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);
    // Every event up to where the walk began is listed; new ones went to the head.
    for (let id = 1; id <= Number(start); id++) expect(ids).toContain(id);
  });

  it('refuses a cursor it did not issue and an out-of-range limit', async () => {
    expect((await api('GET', `/tenants/${tenant.slug}/users?cursor=bm9wZQ`)).body).toMatchObject({ status: 400, code: 'invalid_cursor' });
    expect((await api('GET', `/tenants/${tenant.slug}/roles?limit=0`)).status).toBe(400);
    expect((await api('GET', `/tenants/${tenant.slug}/groups?limit=100000`)).status).toBe(400);
  });
});
