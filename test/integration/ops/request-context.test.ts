import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// The request's log context (log/request-store.ts) reaches the code oidc-provider runs for the
// request: its events, the adapter, the hooks Gatehouse gives it. (Its metrics observer: a grant
// counted in gatehouse_tokens_issued_total, test/integration/ops/metrics.test.ts.)

describe('the request context through oidc-provider', () => {
  let gh: TestGatehouse;
  let tenant: Tenant;
  let client: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    gh = await startTestGatehouse();
    tenant = await gh.tenant();
    client = await gh.client(tenant, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
  });
  afterAll(() => gh.stop());

  const token = (requestId: string, body: Record<string, string>) => fetch(`${gh.url}/t/${tenant.slug}/token`, {
    method: 'POST',
    headers: { 'x-request-id': requestId, authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams(body),
  });

  test("a line logged inside oidc-provider's handling carries the id of its request", async () => {
    const ids = ['request-context-a-0001', 'request-context-b-0002'];
    // Both at once: each line must carry its own request's id, not the other's.
    const answers = await Promise.all(ids.map((id, i) => token(id, { grant_type: 'authorization_code', code: `no-such-code-${i}`, redirect_uri: 'https://rp.example/cb' })));
    for (const [i, res] of answers.entries()) {
      expect(res.status).toBe(400);
      expect(res.headers.get('x-request-id')).toBe(ids[i]);
    }
    const refused = logLines.map((l) => JSON.parse(l)).filter((l) => l.message === 'oidc.request_refused' && ids.includes(l.request_id));
    expect(refused.map((l) => l.request_id).sort()).toEqual(ids);
    for (const line of refused) expect(line).toMatchObject({ tenant: tenant.slug, event: 'grant.error', error: expect.any(String) });
  });
});
