import { kvKey, type KvStore } from '../kv/store.js';

export interface LockoutPolicy {
  max_failed_attempts: number;
  window_seconds: number;
  duration_seconds: number;
}

/**
 * Failed-login counting in the shared store, so a lockout holds on every node.
 * The counter lives `window_seconds` from the first failure; reaching the limit locks the
 * account for `duration_seconds`.
 */
export class Lockout {
  constructor(private readonly kv: KvStore, private readonly prefix: string) {}

  private keys(tenantId: string, userId: string) {
    return { failures: kvKey(this.prefix, tenantId, 'lockout', 'failures', userId), locked: kvKey(this.prefix, tenantId, 'lockout', 'locked', userId) };
  }

  async isLocked(tenantId: string, userId: string) {
    return Boolean(await this.kv.get(this.keys(tenantId, userId).locked));
  }

  /**
   * Whether the account is locked, and whether it has failures on record (which a successful
   * login clears). Both reads are issued together: one round trip to Redis.
   */
  async state(tenantId: string, userId: string) {
    const k = this.keys(tenantId, userId);
    const [locked, failures] = await Promise.all([this.kv.get(k.locked), this.kv.get(k.failures)]);
    return { locked: Boolean(locked), failures: Boolean(failures) };
  }

  /** Returns true when this failure locked the account. */
  async recordFailure(tenantId: string, userId: string, policy: LockoutPolicy) {
    if (policy.max_failed_attempts <= 0) return false;
    const k = this.keys(tenantId, userId);
    const count = await this.kv.incr(k.failures, policy.window_seconds);
    if (count < policy.max_failed_attempts) return false;
    await this.kv.set(k.locked, '1', policy.duration_seconds);
    await this.kv.del(k.failures);
    return true;
  }

  async clear(tenantId: string, userId: string) {
    const k = this.keys(tenantId, userId);
    await this.kv.del(k.failures, k.locked);
  }
}
