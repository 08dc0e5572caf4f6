import { setTimeout as sleep } from 'node:timers/promises';
import { systemAdminApi } from '../../support/admin.js';
import { CuttableProxy } from '../../support/outages.js';
import { freshDatabase, logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// DESIGN.md "Operations": a database outage answers 503 (never a 500 with a stack) and the node
// recovers by itself. A proxy in front of PostgreSQL is cut: to the node that is the outage.
const base = process.env.DATABASE_URL;
const describeWithServer = base ? describe : describe.skip; // the embedded database cannot be stopped apart from the process

let gh: TestGatehouse;
let proxy: CuttableProxy;
let db: Awaited<ReturnType<typeof freshDatabase>>;
beforeAll(async () => {
  if (!base) return;
  db = await freshDatabase();
  const real = new URL(db.url!);
  proxy = new CuttableProxy({ host: real.hostname, port: Number(real.port || 5432) });
  await proxy.open();
  const viaProxy = new URL(db.url!);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  gh = await startTestGatehouse({ databaseUrl: viaProxy.toString() });
});
afterAll(async () => {
  if (!base) return;
  await gh.stop();
  await proxy.cut();
  await db.drop();
});

describeWithServer('PostgreSQL stopped', () => {
  it('answers 503 temporarily_unavailable on token, discovery and the admin API, logs no stack, and recovers', async () => {
    const tenant = await gh.tenant();
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], response_types: [] });
    const admin = await systemAdminApi(gh);
    const token = () => fetch(`${gh.url}/t/${tenant.slug}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    const discovery = () => fetch(`${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`);
    expect((await token()).status).toBe(200);
    expect((await discovery()).status).toBe(200);

    await proxy.cut();
    await sleep(300); // the change feed's LISTEN connection notices, so nothing is served from trust in it
    const before = logLines.length;

    const t = await token();
    expect(t.status).toBe(503);
    expect(t.headers.get('retry-after')).toBe('5');
    expect(await t.json()).toMatchObject({ error: 'temporarily_unavailable' });
    const d = await discovery();
    expect(d.status).toBe(503);
    expect(await d.json()).toMatchObject({ error: 'temporarily_unavailable' });
    const a = await admin('GET', '/tenants');
    expect(a.status).toBe(503);
    expect(a.type).toContain('application/problem+json');
    expect(a.body).toMatchObject({ status: 503, code: 'temporarily_unavailable' });
    const page = await fetch(`${gh.url}/t/${tenant.slug}/interaction/abc`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('try again in a moment');
    const readyz = await fetch(`${gh.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ checks: { postgres: false, kv: true, master_key: null } }); // the key is not known to be wrong

    // The tenant could not be looked up, so no route was matched: counted under the mount, not
    // with the 404s of paths nothing serves.
    const metrics = await (await fetch(`${gh.url}/metrics`)).text();
    expect(metrics).toMatch(/^gatehouse_http_requests_total\{route="\/t\/:tenant",method="POST",status="503"\} [1-9]/m);
    expect(metrics).toMatch(/^gatehouse_http_requests_total\{route="\/t\/:tenant",method="GET",status="503"\} [1-9]/m);
    expect(metrics).not.toMatch(/route="unmatched"[^\n]*status="503"/);

    const during = logLines.slice(before);
    expect(during.some((l) => l.includes('unavailable'))).toBe(true);
    expect(during.filter((l) => l.includes('"stack"'))).toEqual([]);

    await proxy.open();
    let recovered = false;
    for (let i = 0; i < 50 && !recovered; i++) {
      recovered = (await token()).status === 200 && (await discovery()).status === 200;
      if (!recovered) await sleep(200);
    }
    expect(recovered).toBe(true);
    expect((await admin('GET', '/tenants')).status).toBe(200);
  });
});
