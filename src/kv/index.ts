import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { KvStore } from './store.js';

export type { KvStore } from './store.js';
export { kvKey } from './store.js';

/** A Redis Cluster when `clusterNodes` is given (it wins over `redisUrl`), one Redis, or memory. */
export async function createKv(redisUrl: string | undefined, clusterNodes?: string[]): Promise<KvStore> {
  if (clusterNodes?.length) return RedisStore.connectCluster(clusterNodes);
  return redisUrl ? RedisStore.connect(redisUrl) : new MemoryStore();
}
