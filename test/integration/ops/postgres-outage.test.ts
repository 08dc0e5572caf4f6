import { setTimeout as sleep } from 'node:timers/promises';
import { STATISTICS_INTERVAL_MS } from '../../../src/db/statistics.js';
import { systemAdminApi } from '../../support/admin.js';
import { CuttableProxy } from '../../support/outages.js';
import { freshDatabase, logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// DESIGN.md "Operations": a database outage answers 503 (never a 500 with a stack) and the node
// recovers by itself. A proxy in front of PostgreSQL is cut: to the node that is the outage.
const base = process.env.DATABASE_URL;
const describeWithServer = base ? describe : describe.skip; // the embedded database cannot be stopped apart from the process

/** The node's statement deadline (db/knex.ts), short here: a serving node waits 30 s. */
const DEADLINE_MS = 1_500;
let gh: TestGatehouse;
let proxy: CuttableProxy;
let db: Awaited<ReturnType<typeof freshDatabase>>;
beforeAll(async () => {
  if (!base) return;
  db = await freshDatabase();
  let url: string;
  ({ proxy, url } = await CuttableProxy.inFrontOf(db.url!));
  gh = await startTestGatehouse({ databaseUrl: url }, { statementDeadlineMs: DEADLINE_MS });
});
afterAll(async () => {
  if (!base) return;
  proxy.resume();
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

// A PostgreSQL that accepts connections and answers nothing (a hung server, a network that drops
// packets without a word) is an outage too: each statement gives up after the node's deadline
// with a 503, its connection is closed (never handed out again), and once the server answers
// again new connections serve. A proxy in front of PostgreSQL holds every byte meanwhile.
describeWithServer('PostgreSQL that stops answering', () => {
  it('answers 503 once the statement deadline passes, on every pool connection, and serves again when PostgreSQL answers', async () => {
    const admin = await systemAdminApi(gh);
    // Every connection of the pool open: each request below then waits on one of them.
    const warm = await Promise.all(Array.from({ length: 10 }, () => admin('GET', '/tenants')));
    expect(warm.map((r) => r.status)).toEqual(Array(10).fill(200));
    const before = logLines.length;

    proxy.stall();
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 10 }, async () => {
      const r = await admin('GET', '/tenants');
      return { ...r, ms: Date.now() - started };
    }));
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.type).toContain('application/problem+json');
      expect(a.body).toMatchObject({ status: 503, code: 'temporarily_unavailable' });
      expect(a.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
      expect(a.ms).toBeLessThan(DEADLINE_MS + 4_000); // a loaded machine adds some
    }
    // Those connections are closed: one more request needs a new one, which cannot be opened
    // either (the proxy accepts it and passes nothing on); that gives up too, as an outage.
    const again = await admin('GET', '/tenants');
    expect(again.status).toBe(503);
    expect(again.body).toMatchObject({ status: 503, code: 'temporarily_unavailable' });

    await sleep(500);
    proxy.resume();
    let recovered = false;
    for (let i = 0; i < 60 && !recovered; i++) {
      recovered = (await admin('GET', '/tenants')).status === 200;
      if (!recovered) await sleep(250);
    }
    expect(recovered).toBe(true);
    // Twice the pool's size in a row: no connection closed by the deadline comes back into use.
    for (let i = 0; i < 20; i++) expect((await admin('GET', '/tenants')).status).toBe(200);

    const during = logLines.slice(before);
    expect(during.some((l) => l.includes('db.statement_deadline'))).toBe(true);
    expect(during.filter((l) => l.includes('"stack"'))).toEqual([]);
  }, 60_000);

  it('ends the statement it cut on the server too, and lets one sent with { deadline: false } run on', async () => {
    const marker = `deadline_${Date.now()}`;
    const started = Date.now();
    await expect(gh.deps.db.raw(`select pg_sleep(20) as ${marker}`)).rejects.toMatchObject({ code: '08006' });
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS + 3_000);
    // The server notices the closed connection during the statement (client_connection_check_interval, 2 s).
    const running = () => gh.deps.db('pg_stat_activity').whereLike('query', `%${marker}%`).whereNot('pid', gh.deps.db.raw('pg_backend_pid()')).count<{ count: number }[]>('* as count');
    let left = 1;
    for (let waited = 0; waited < 8_000 && left > 0; waited += 250) {
      await sleep(250);
      left = Number((await running())[0].count);
    }
    expect(left).toBe(0);

    const slow = await gh.deps.db.raw('select pg_sleep(?) as slept, 1 as done', [(DEADLINE_MS + 500) / 1000]).options({ deadline: false });
    expect(slow.rows[0].done).toBe(1);
  }, 30_000);
});

// The planner statistics rounds (db/statistics.ts, every STATISTICS_INTERVAL_MS) fail all through
// an outage: one warning for the whole outage, not one per round, and a line when they succeed.
describeWithServer('PostgreSQL stopped for several statistics rounds', () => {
  it('warns db.analyze_failed once, and logs db.analyze_recovered once a round succeeds again', async () => {
    const events = (from: number) => logLines.slice(from).flatMap((l) => /"db\.analyze_(failed|recovered)"/.exec(l)?.[0].slice(1, -1) ?? []);
    // A round with PostgreSQL answering first: one failing in the tests above would otherwise still
    // count this outage as the same streak, and warn nothing.
    await sleep(STATISTICS_INTERVAL_MS + 1_000);
    const before = logLines.length;
    await proxy.cut();
    await sleep(STATISTICS_INTERVAL_MS * 3 + 1_000);
    expect(events(before)).toEqual(['db.analyze_failed']);
    const failed = logLines.slice(before).find((l) => l.includes('db.analyze_failed'))!;
    expect(failed).not.toContain('"stack"');

    await proxy.open();
    for (let waited = 0; waited < STATISTICS_INTERVAL_MS * 3 && !events(before).includes('db.analyze_recovered'); waited += 250) await sleep(250);
    expect(events(before)).toEqual(['db.analyze_failed', 'db.analyze_recovered']);
  }, 60_000);
});
