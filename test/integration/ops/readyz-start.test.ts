import { randomBytes } from 'node:crypto';
import { startGatehouse, type Gatehouse } from '../../../src/app.js';
import { freePort } from '../../support/outages.js';
import { freshDatabase, testConfig } from '../../support/gatehouse.js';

// A node listens before it has made the system tenant, its keys and the bootstrap admins (app.ts):
// /readyz says 503 "starting" until they exist, so neither a balancer nor a script that waits for
// 200 sends it a request they would fail. The image rehearsal's client_credentials request once
// got 401 invalid_client: /readyz had said 200 before the bootstrap client was written.
// The window is made long with a bcrypt cost of 15 for the bootstrap admin's password (seconds).
let db: Awaited<ReturnType<typeof freshDatabase>>;
let gh: Gatehouse | undefined;
beforeAll(async () => { db = await freshDatabase(); });
afterAll(async () => {
  await gh?.close();
  await db.drop();
});

it('answers 503 "starting" until the bootstrap admins exist, then 200, and the bootstrap client gets a token at once', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const clientId = 'start-admin';
  const clientSecret = randomBytes(32).toString('hex');
  const config = testConfig(db, {
    port,
    logLevel: 'warn',
    bcryptCost: 15,
    bootstrap: { clientId, clientSecret, email: 'admin@example.com', password: 'a-long-and-uncommon-passphrase' },
  });
  let done = false;
  const starting = startGatehouse(config, { kvPrefix: `ghtest:${randomBytes(4).toString('hex')}:` }).finally(() => (done = true));

  // Every answer received while the start is still going: the node listens, so some come.
  const whileStarting: { status: number; body: { status: string; starting: boolean } }[] = [];
  while (!done) {
    const res = await fetch(`${base}/readyz`).catch(() => undefined); // refused until it listens
    if (res && !done) whileStarting.push({ status: res.status, body: await res.json() });
    await new Promise((r) => setTimeout(r, 25));
  }
  gh = await starting;

  expect(whileStarting.length).toBeGreaterThan(0);
  for (const answer of whileStarting) {
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ status: 'starting', starting: true });
  }
  const ready = await fetch(`${base}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: 'ready', starting: false, draining: false });

  const token = await fetch(`${base}/t/system/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${gh.url}/admin` }),
  });
  expect(token.status).toBe(200);
  expect(await token.json()).toMatchObject({ token_type: 'Bearer' });
}, 60_000);
