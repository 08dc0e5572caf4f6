import { execFileSync } from 'node:child_process';
import { isKvUnavailable } from '../../../src/kv/unavailable.js';
import { CuttableProxy, freePort, PrivateRedis } from '../../support/outages.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// A Redis failover behind one address (Sentinel or a managed service's primary endpoint moving to
// the promoted replica): the node's open connection stays on the old master, now a replica, which
// refuses every write with READONLY. That is Redis not there for writes: 503 with Retry-After, never
// a 500, and the connection is opened again, so the node reaches the new master by itself. Two
// real Redis servers behind a TCP proxy: the first is demoted to a replica of the second, and new
// connections through the proxy go to the second, as the address would after a failover.
let first: PrivateRedis;
let second: PrivateRedis;
let proxy: CuttableProxy;
let gh: TestGatehouse;
beforeAll(async () => {
  first = new PrivateRedis(await freePort());
  second = new PrivateRedis(await freePort());
  await Promise.all([first.start(), second.start()]);
  proxy = new CuttableProxy({ host: '127.0.0.1', port: first.port });
  await proxy.open();
  gh = await startTestGatehouse({ redisUrl: `redis://127.0.0.1:${proxy.port}/0` });
});
afterAll(async () => {
  await gh?.stop();
  await proxy.cut();
  await Promise.all([first.stop(), second.stop()]);
});

describe('Redis failing over behind its address', () => {
  it('answers 503 while the old master refuses writes, then writes to the new one without a restart', async () => {
    const tenant = await gh.tenant();
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], response_types: [] });
    const token = () => fetch(`${gh.url}/t/${tenant.slug}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect((await token()).status).toBe(200); // an opaque token: stored in Redis

    execFileSync('redis-cli', ['-p', String(first.port), 'replicaof', '127.0.0.1', String(second.port)]);
    // A write through the node's open connection is refused by the replica, in a MULTI as well.
    const refused = await gh.deps.kv.sadd(`${gh.deps.kvPrefix}{${tenant.id}}:probe`, 'x', 60).then(() => undefined, (err: unknown) => err);
    expect(refused).toBeDefined();
    expect(isKvUnavailable(refused)).toBe(true);

    proxy.retarget({ host: '127.0.0.1', port: second.port });
    const before = logLines.length;
    const statuses: number[] = [];
    for (let i = 0; i < 30 && statuses.at(-1) !== 200; i++) {
      const r = await token();
      statuses.push(r.status);
      if (r.status === 503) {
        expect(r.headers.get('retry-after')).toBe('5');
        expect(await r.json()).toMatchObject({ error: 'temporarily_unavailable' });
      }
      if (r.status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(logLines.slice(before).filter((l) => l.includes('"stack"'))).toEqual([]);
    // The new master holds what the node writes now.
    expect(Number(execFileSync('redis-cli', ['-p', String(second.port), 'dbsize']).toString())).toBeGreaterThan(0);
  });

  it('reconnects on a refusal of the rate limiter alone, so limits are kept on the new master', async () => {
    // Now the other way round: the second server is demoted, the first promoted, and the address
    // leads to the first. The only writes are the limiter's (failed client authentications).
    execFileSync('redis-cli', ['-p', String(first.port), 'replicaof', 'no', 'one']);
    execFileSync('redis-cli', ['-p', String(second.port), 'replicaof', '127.0.0.1', String(first.port)]);
    proxy.retarget({ host: '127.0.0.1', port: first.port });
    const tenant = await gh.tenant();
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], response_types: [] });
    const limiterKeys = () => execFileSync('redis-cli', ['-p', String(first.port), '--scan', '--pattern', `*{${tenant.id}}:rl:client_auth_failures:*`]).toString().trim();
    for (let i = 0; i < 6 && !limiterKeys(); i++) {
      const r = await fetch(`${gh.url}/t/${tenant.slug}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${app.clientId}:wrong`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      expect(r.status).toBe(401); // the limiter fails open meanwhile; the answer is the client's
      await new Promise((resolve) => setTimeout(resolve, 1100)); // reconnects at most once a second
    }
    expect(limiterKeys()).not.toBe('');
  });
});
