import { randomBytes } from 'node:crypto';
import { RedisStore } from '../../../src/kv/redis.js';
import { RateLimits } from '../../../src/security/rate-limit.js';
import { logLines } from '../../support/gatehouse.js';

// Only with REDIS_URL: the in-process store cannot become unreachable.
const withRedis = process.env.REDIS_URL ? describe : describe.skip;

withRedis('rate limits on Redis', () => {
  const prefix = `ghtest:${randomBytes(4).toString('hex')}:`;
  const policy = { limit: 2, window_seconds: 30 };

  it('keeps counters under the tenant hash tag with the window as expiry', async () => {
    const store = await RedisStore.connect(process.env.REDIS_URL!);
    try {
      const limits = new RateLimits(store, prefix);
      for (let i = 0; i < 2; i++) expect((await limits.consume('tenant-a', 'login_per_ip', ['192.0.2.1'], policy)).allowed).toBe(true);
      expect(await limits.consume('tenant-a', 'login_per_ip', ['192.0.2.1'], policy)).toEqual({ allowed: false, retryAfterSeconds: expect.any(Number) });
      const keys = await store.client.keys(`${prefix}*`);
      expect(keys).toEqual([`${prefix}{tenant-a}:rl:login_per_ip:192.0.2.1`]);
      const ttl = await store.client.ttl(keys[0]);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30);
      await store.client.del(keys);
    } finally {
      await store.close();
    }
  });

  it('answers a clean key from memory for a short while, and forgets it at once on its own failure', async () => {
    const [storeA, storeB] = [await RedisStore.connect(process.env.REDIS_URL!), await RedisStore.connect(process.env.REDIS_URL!)];
    try {
      const nodeA = new RateLimits(storeA, prefix);
      const nodeB = new RateLimits(storeB, prefix, { cleanForMs: 400 });
      const key = ['client-1', '192.0.2.9'];
      const peek = (limits: RateLimits) => limits.peek('tenant-c', 'client_auth_failures', key, policy);
      expect(await peek(nodeB)).toEqual({ allowed: true }); // B read the store: clean, remembered
      for (let i = 0; i < 2; i++) await nodeA.penalty('tenant-c', 'client_auth_failures', key, policy);
      expect((await peek(nodeA)).allowed).toBe(false); // A asks the store
      expect((await peek(nodeB)).allowed).toBe(true); // B still within its 400 ms
      await new Promise((r) => setTimeout(r, 450));
      expect((await peek(nodeB)).allowed).toBe(false); // past it: the shared count

      const other = ['client-2', '192.0.2.9'];
      expect((await nodeB.peek('tenant-c', 'client_auth_failures', other, policy)).allowed).toBe(true);
      for (let i = 0; i < 2; i++) await nodeB.penalty('tenant-c', 'client_auth_failures', other, policy);
      expect((await nodeB.peek('tenant-c', 'client_auth_failures', other, policy)).allowed).toBe(false); // its own failures: no waiting
      // A read racing this node's own failure is not remembered as clean, whichever Redis answers first.
      const raced = ['client-3', '192.0.2.9'];
      const pending = nodeB.peek('tenant-c', 'client_auth_failures', raced, policy);
      await Promise.all([nodeB.penalty('tenant-c', 'client_auth_failures', raced, policy), nodeB.penalty('tenant-c', 'client_auth_failures', raced, policy)]);
      await pending;
      expect((await nodeB.peek('tenant-c', 'client_auth_failures', raced, policy)).allowed).toBe(false);
      await storeA.client.del(await storeA.client.keys(`${prefix}{tenant-c}*`));
    } finally {
      await storeA.close();
      await storeB.close();
    }
  });

  it('fails open when Redis cannot be reached, logging it once', async () => {
    const store = await RedisStore.connect(process.env.REDIS_URL!);
    const limits = new RateLimits(store, prefix);
    await store.close();
    const before = logLines.length;
    for (let i = 0; i < 5; i++) expect(await limits.consume('tenant-b', 'admin', ['client:x'], policy)).toEqual({ allowed: true });
    expect(await limits.peek('tenant-b', 'client_auth_failures', ['c', '192.0.2.1'], policy)).toEqual({ allowed: true });
    const warned = logLines.slice(before).filter((l) => l.includes('rate_limit.store_unavailable'));
    expect(warned).toHaveLength(1);
  });
});
