import { createCluster } from 'redis';

// src/kv/redis.ts follows a Redis Cluster failover by asking for the slots again through
// node-redis' own `_slots.rediscover` (5.x has no public call for it). An upgrade of node-redis
// that renamed it would not fail anything else here: failovers would just go unnoticed until the
// lost master answered again. This pins the shape the code relies on.
describe('node-redis cluster internals that src/kv/redis.ts uses', () => {
  it('has the slots rediscover and the public masters list', () => {
    const cluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] }); // never connected
    const slots = (cluster as unknown as { _slots?: { rediscover?: unknown } })._slots;
    expect(typeof slots?.rediscover).toBe('function');
    expect((slots!.rediscover as (...args: unknown[]) => unknown).length).toBe(1); // (startWith: a node's client options)
    expect(Array.isArray(cluster.masters)).toBe(true);
  });
});
