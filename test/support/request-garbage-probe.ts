/**
 * The measure of test/integration/ops/request-garbage.test.ts, in a process of its own:
 *   node --import tsx test/support/request-garbage-probe.ts
 * prints one JSON line: the requests of each case (REQUESTS), and for each case how much the old generation grew while REQUESTS answered
 * requests each carried BALLAST_OBJECTS objects of their own, and the major GCs in that window.
 *
 * In a Jest worker that had run other test files before, both measured cases grew by 13.5 MB
 * (every ballast promoted, on the admin route too) in about one CI run of three, and never in a
 * process of its own. The likeliest cause, not proven: the young generation's size, which V8 adapts
 * to what the process did before, decided whether a minor GC fell while each ballast was still
 * being built, and V8 promotes a page of new space whole when most of it is live. A new process
 * starts from the same young generation every time.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { basicAuth } from './admin.js';
import { asyncContextFrames, exposedGC, watchGC } from './gc.js';
import { startTestGatehouse } from './gatehouse.js';

const gc = exposedGC();
const REQUESTS = 20;
/** Objects each request carries: about 0.8 MB of heap, 16 MB for the requests of one measure. */
const BALLAST_OBJECTS = 20_000;

// V8 allocates straight into the old generation at an allocation site whose objects mostly
// survived minor GCs: the control's ballast site would be, and so might the measured one's.
v8.setFlagsFromString('--no-allocation-site-pretenuring');

const oldSpaceUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;

/** The measured requests' ballast and the control's, made at two allocation sites. */
const droppedBallast = () => Array.from({ length: BALLAST_OBJECTS }, (_, i) => ({ i }));
const keptBallast = () => Array.from({ length: BALLAST_OBJECTS }, (_, i) => ({ kept: i }));

/** A POST's form body and Basic credentials (the token case). */
interface Post { body: string; authorization: string }

/** One request on a connection of its own (no idle keep-alive connection holds anything after it). */
function send(url: string, post?: Post) {
  return new Promise<number>((resolve, reject) => {
    const headers = post ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(post.body)), authorization: post.authorization } : {};
    const req = http.request(url, { agent: false, method: post ? 'POST' : 'GET', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(post?.body);
  });
}

async function expectStatus(url: string, expected: number, post?: Post) {
  const status = await send(url, post);
  if (status !== expected) throw new Error(`${url} answered ${status}, expected ${expected}`);
}

/**
 * Sends the requests one after the other, each carrying objects of its own on its IncomingMessage
 * (which every Koa context and every handler references), and measures how much the old generation
 * grew once minor GCs have run. A major GC in the window would free what was promoted and hide it:
 * the measure is then taken again. `keep` holds every ballast on purpose (the control: the method
 * sees promotion when there is some).
 */
async function promotedBy(server: http.Server, url: string, expected: number, keep?: unknown[], post?: Post) {
  for (let i = 0; i < 3; i++) await expectStatus(url, expected, post); // warm: caches and compiled code
  for (let attempt = 1; ; attempt++) {
    keep?.splice(0);
    const onRequest = (req: http.IncomingMessage) => {
      const ballast = keep ? keptBallast() : droppedBallast();
      (req as { ballast?: unknown }).ballast = ballast;
      keep?.push(ballast);
    };
    gc();
    gc();
    const before = oldSpaceUsed();
    const gcs = watchGC();
    server.on('request', onRequest);
    try {
      for (let i = 0; i < REQUESTS; i++) await expectStatus(url, expected, post);
      await sleep(20);
      gc({ type: 'minor' });
      gc({ type: 'minor' });
      const grown = oldSpaceUsed() - before;
      const { major } = gcs.stop();
      if (major === 0 || attempt === 3) return { grown, major, kept: keep?.length };
    } finally {
      server.off('request', onRequest);
      gcs.stop();
    }
  }
}

const gh = await startTestGatehouse();
try {
  const tenant = await gh.tenant();
  const provider = await promotedBy(gh.server, `${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`, 200);
  const admin = await promotedBy(gh.server, `${gh.url}/admin/v1/tenants`, 401);
  // A JWT access token: the one case that signs (provider/signing-key.ts), on the thread pool.
  // Measured where the test asserts it (request-garbage.test.ts says why not on Node 20 or 22).
  let token;
  if (asyncContextFrames()) {
    const api = 'https://api.garbage.invalid';
    await gh.deps.db('resources').insert({ tenant_id: tenant.id, id: randomUUID(), identifier: api, name: 'Garbage' });
    const service = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    token = await promotedBy(gh.server, `${gh.url}/t/${tenant.slug}/token`, 200, undefined, {
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: api }).toString(),
      authorization: basicAuth(service.clientId, service.clientSecret!),
    });
  }
  const control = await promotedBy(gh.server, `${gh.url}/admin/v1/tenants`, 401, []);
  process.stdout.write(`${JSON.stringify({ requests: REQUESTS, provider, admin, token, control })}\n`);
} finally {
  await gh.stop();
}
