import { EventEmitter } from 'node:events';
import type { KvStore } from './store.js';

interface Entry {
  value: string | Set<string>;
  expiresAt?: number;
}

/** Single-node stand-in for Redis with the same semantics (expiry, sets, counters, pub/sub). */
export class MemoryStore implements KvStore {
  readonly kind = 'memory' as const;
  #data = new Map<string, Entry>();
  #bus = new EventEmitter();
  #sweeper: NodeJS.Timeout;

  constructor() {
    this.#bus.setMaxListeners(0);
    this.#sweeper = setInterval(() => this.#sweep(), 30_000);
    this.#sweeper.unref();
  }

  #live(key: string): Entry | undefined {
    const entry = this.#data.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#data.delete(key);
      return undefined;
    }
    return entry;
  }

  #sweep() {
    const now = Date.now();
    for (const [key, entry] of this.#data) if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#data.delete(key);
  }

  async get(key: string) {
    const entry = this.#live(key);
    return typeof entry?.value === 'string' ? entry.value : undefined;
  }

  async set(key: string, value: string, ttlSeconds?: number) {
    this.#data.set(key, { value, expiresAt: ttlSeconds && ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : undefined });
  }

  async del(...keys: string[]) {
    for (const key of keys) this.#data.delete(key);
  }

  async sadd(key: string, member: string, ttlSeconds: number) {
    const entry = this.#live(key);
    const set = entry?.value instanceof Set ? entry.value : new Set<string>();
    set.add(member);
    const expiresAt = Math.max(entry?.expiresAt ?? 0, Date.now() + ttlSeconds * 1000);
    this.#data.set(key, { value: set, expiresAt });
  }

  async smembers(key: string) {
    const entry = this.#live(key);
    return entry?.value instanceof Set ? [...entry.value] : [];
  }

  async srem(key: string, member: string) {
    const entry = this.#live(key);
    if (entry?.value instanceof Set) entry.value.delete(member);
  }

  async srandmember(key: string, count: number) {
    const members = await this.smembers(key);
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [members[i], members[j]] = [members[j], members[i]];
    }
    return members.slice(0, count);
  }

  async incr(key: string, ttlSeconds: number) {
    const entry = this.#live(key);
    const next = (typeof entry?.value === 'string' ? Number(entry.value) : 0) + 1;
    this.#data.set(key, { value: String(next), expiresAt: entry?.expiresAt ?? Date.now() + ttlSeconds * 1000 });
    return next;
  }

  async publish(channel: string, message: string) {
    this.#bus.emit(channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void) {
    this.#bus.on(channel, handler);
  }

  async ping() {
    return true;
  }

  async close() {
    clearInterval(this.#sweeper);
    this.#bus.removeAllListeners();
    this.#data.clear();
  }
}
