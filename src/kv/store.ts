/** Short-lived shared state: Redis when REDIS_URL is set, otherwise this process's memory. */
export interface KvStore {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | undefined>;
  /** `ttlSeconds` > 0 expires the key; otherwise it lives until deleted. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  /** Adds a member to a set, extending the set's life to at least `ttlSeconds`. */
  sadd(key: string, member: string, ttlSeconds: number): Promise<void>;
  smembers(key: string): Promise<string[]>;
  srem(key: string, member: string): Promise<void>;
  /** Up to `count` distinct members of a set, picked at random. */
  srandmember(key: string, count: number): Promise<string[]>;
  /** Increments a counter created with `ttlSeconds` on first use; returns the new value. */
  incr(key: string, ttlSeconds: number): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Key names carry the tenant in a hash tag so a Redis cluster keeps a tenant's keys together.
 * `prefix` separates deployments (and test runs) sharing one Redis.
 */
export function kvKey(prefix: string, tenantId: string, ...parts: string[]) {
  return `${prefix}{${tenantId}}:${parts.join(':')}`;
}

