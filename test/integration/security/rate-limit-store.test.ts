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
