import { createClient, ConnectionTimeoutError, ErrorReply } from 'redis';
import type { KvStore } from './store.js';

type Client = ReturnType<typeof createClient>;

const CONNECT_TIMEOUT_MS = 3000;

/** REDIS_URL cannot be used at start; the message names the variable and what is wrong. */
export class KvUnreachableError extends Error {}

function parseRedisUrl(url: string) {
  const parsed = new URL(url);
  const database = Number(parsed.pathname.slice(1) || 0);
  const target = `${parsed.hostname}:${parsed.port || 6379}`;
  parsed.pathname = '';
  return { target, database: Number.isInteger(database) ? database : 0, base: parsed.toString() };
}

function describeConnectError(err: unknown, target: string) {
  const code = (err as { code?: string } | null)?.code ?? (err instanceof AggregateError ? (err.errors[0] as { code?: string })?.code : undefined);
  if (code === 'ECONNREFUSED') return `REDIS_URL: connection refused at ${target}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `REDIS_URL: host ${target.replace(/:\d+$/, '')} not found`;
  if (err instanceof ConnectionTimeoutError) return `REDIS_URL: no answer from ${target} within ${CONNECT_TIMEOUT_MS / 1000} s`;
  // AUTH or HELLO refused: the server's reply (WRONGPASS..., NOAUTH...) names the reason and no secret.
  if (err instanceof ErrorReply) return `REDIS_URL: ${target} refused the connection: ${err.message}`;
  return `REDIS_URL: cannot connect to ${target} (${code ?? (err as Error)?.name ?? 'unknown error'})`;
}

export class RedisStore implements KvStore {
  readonly kind = 'redis' as const;
  #subscriber?: Client;

  /** `client`: the node-redis client, for libraries that speak Redis themselves (security/rate-limit.ts). */
  private constructor(readonly client: Client) {}

  /**
   * Connects once, within CONNECT_TIMEOUT_MS, or throws KvUnreachableError saying why: a start
   * with a REDIS_URL that points at nothing stops with that line instead of retrying silently.
   * Once connected, a lost connection is retried for ever, and commands fail at once while it is
   * down (no offline queue), so requests answer 503 and /readyz stays prompt.
   */
  static async connect(url: string): Promise<RedisStore> {
    const { target, database, base } = parseRedisUrl(url);
    let connected = false;
    const client = createClient({
      url: base,
      disableOfflineQueue: true,
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: (n) => (connected ? Math.min(n * 100, 2000) : false) },
    });
    client.on('error', () => {}); // reconnects on its own; readiness is reported by /readyz
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KvUnreachableError(`REDIS_URL: no answer from ${target} within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
    });
    try {
      await Promise.race([client.connect(), deadline]).catch((err) => {
        throw err instanceof KvUnreachableError ? err : new KvUnreachableError(describeConnectError(err, target), { cause: err });
      });
      // SELECT apart from the handshake, so its refusal can only mean the index (node-redis re-selects on reconnect).
      if (database) {
        await Promise.race([client.select(database), deadline]).catch((err) => {
          throw err instanceof ErrorReply ? new KvUnreachableError(`REDIS_URL: database ${database} does not exist on ${target}`, { cause: err }) : err;
        });
      }
      connected = true;
      return new RedisStore(client);
    } catch (err) {
      try {
        client.destroy();
      } catch {
        // never opened
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
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
