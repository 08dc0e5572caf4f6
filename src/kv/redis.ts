import { createClient } from 'redis';
import type { KvStore } from './store.js';

type Client = ReturnType<typeof createClient>;

export class RedisStore implements KvStore {
  readonly kind = 'redis' as const;
  #subscriber?: Client;

  /** `client`: the node-redis client, for libraries that speak Redis themselves (security/rate-limit.ts). */
  private constructor(readonly client: Client) {}

  static async connect(url: string): Promise<RedisStore> {
    const client = createClient({ url, socket: { reconnectStrategy: (n) => Math.min(n * 100, 2000), connectTimeout: 5000 } });
    client.on('error', () => {}); // reconnects on its own; readiness is reported by /readyz
    await client.connect();
    return new RedisStore(client);
  }

  async get(key: string) {
    return (await this.client.get(key)) ?? undefined;
  }

  async set(key: string, value: string, ttlSeconds?: number) {
    if (ttlSeconds && ttlSeconds > 0) await this.client.set(key, value, { EX: Math.ceil(ttlSeconds) });
    else await this.client.set(key, value);
  }

  async del(...keys: string[]) {
    if (keys.length) await this.client.del(keys);
  }

  async sadd(key: string, member: string, ttlSeconds: number) {
    await this.client.multi().sAdd(key, member).expire(key, Math.ceil(ttlSeconds), 'GT').expire(key, Math.ceil(ttlSeconds), 'NX').exec();
  }

  async smembers(key: string) {
    return this.client.sMembers(key);
  }

  async incr(key: string, ttlSeconds: number) {
    const [count] = await this.client.multi().incr(key).expire(key, Math.ceil(ttlSeconds), 'NX').exec();
    return Number(count);
  }

  async publish(channel: string, message: string) {
    await this.client.publish(channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void) {
    if (!this.#subscriber) {
      this.#subscriber = this.client.duplicate();
      this.#subscriber.on('error', () => {});
      await this.#subscriber.connect();
    }
    await this.#subscriber.subscribe(channel, handler);
  }

  async ping() {
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close() {
    await Promise.allSettled([this.#subscriber?.quit(), this.client.quit()]);
  }
}
