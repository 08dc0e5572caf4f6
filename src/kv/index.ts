import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { KvStore } from './store.js';

export type { KvStore } from './store.js';
export { kvKey } from './store.js';

export async function createKv(redisUrl: string | undefined): Promise<KvStore> {
  return redisUrl ? RedisStore.connect(redisUrl) : new MemoryStore();
}
