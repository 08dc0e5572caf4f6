import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, type RateLimiterRes } from 'rate-limiter-flexible';
import { RedisStore } from '../kv/redis.js';
import { kvKey, type KvStore } from '../kv/store.js';
import { withinDeadline } from '../kv/unavailable.js';
import { log } from '../log/logger.js';
import { observer } from '../log/observe.js';

/** At most `limit` events per `window_seconds` (a fixed window from the first); limit 0 = off. */
export interface RateLimitPolicy {
  limit: number;
  window_seconds: number;
}

/** A tenant's `rate_limits` setting (DESIGN.md "Admin API"). */
export interface RateLimitSettings {
  login_per_ip: RateLimitPolicy;
  login_per_account: RateLimitPolicy;
  client_auth_failures: RateLimitPolicy;
  mail_per_address: RateLimitPolicy;
}

/** Which limit refused: the `limit` label of `gatehouse_rate_limited_total`. */
export type RateLimitName = keyof RateLimitSettings | 'admin';

export type RateLimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

const ALLOWED: RateLimitDecision = { allowed: true };

const listeners = new Set<(limit: RateLimitName) => void>();

/** Hears every refusal (for `gatehouse_rate_limited_total{limit}`); returns the unsubscribe. */
export function onRateLimited(listener: (limit: RateLimitName) => void) {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/**
 * Counters in Gatehouse's kv store, through rate-limiter-flexible: on Redis every node shares
 * them (RateLimiterRedis), in-process they are this node's (RateLimiterMemory). Keys are
 * `kvKey(prefix, tenant, 'rl', name, ...)`, so a tenant's counters stay in its hash slot.
 *
 * Policies are passed on each call, read from the tenant's settings then, so a change holds on
 * the next request. The limiter's own `points` is not used: every call adds one (or reads) and
 * compares the count with the policy, so limiters are kept per window length only, and a
 * changed limit keeps the count it applies to.
 *
 * When the store fails the limits fail open (logged once per outage): a Redis outage answers 503
 * where the request needs Redis, and a rate limit must not turn it into 500s or refusals.
 */
export class RateLimits {
  readonly #limiters = new Map<number, RateLimiterAbstract>();
  readonly #clean = new CleanKeys();
  readonly #outage = new StoreOutage();

  /**
   * `cleanForMs`: how long a `peek` that found no failures at all answers again from this node's
   * memory (see CleanKeys); 0 asks the store every time. In-process the counts are this node's
   * alone, and every count made forgets the key first, so the answer is exact however long.
   */
  constructor(private readonly kv: KvStore, private readonly prefix: string, options: { cleanForMs?: number } = {}) {
    this.#clean.ttlMs = options.cleanForMs ?? 1000;
  }

  /** Counts one event; refused when that makes the count exceed the limit. */
  async consume(tenantId: string, name: RateLimitName, key: string[], policy: RateLimitPolicy): Promise<RateLimitDecision> {
    if (policy.limit <= 0) return ALLOWED;
    const k = this.#key(tenantId, name, key);
    this.#clean.delete(k);
    const res = await this.#call(() => this.#limiter(policy).penalty(k, 1));
    return res && res.consumedPoints > policy.limit ? this.#refuse(name, res) : ALLOWED;
  }

  /** True when `peek` would allow at once, from this node's memory of clean keys (no promise, no store). */
  knownClean(tenantId: string, name: RateLimitName, key: string[], policy: RateLimitPolicy): boolean {
    return policy.limit <= 0 || this.#clean.has(this.#key(tenantId, name, key));
  }

  /**
   * Refused when the count already reached the limit; counts nothing. With `penalty` afterwards,
   * a limit counts only failures: a request under the limit is never refused, whatever others do.
   */
  async peek(tenantId: string, name: RateLimitName, key: string[], policy: RateLimitPolicy): Promise<RateLimitDecision> {
    if (policy.limit <= 0) return ALLOWED;
    const k = this.#key(tenantId, name, key);
    if (this.#clean.has(k)) return ALLOWED;
    const counted = this.#clean.counted;
    const res = await this.#call(() => this.#limiter(policy).get(k));
    // The store answered "no failures" and nothing was counted on this node meanwhile (a read
    // racing a penalty could otherwise mark clean a key that has just failed).
    if (res === null && counted === this.#clean.counted) this.#clean.add(k);
    return res && res.consumedPoints >= policy.limit ? this.#refuse(name, res) : ALLOWED;
  }

  /** Counts one event (a failure, after the fact) without deciding anything. */
  async penalty(tenantId: string, name: RateLimitName, key: string[], policy: RateLimitPolicy): Promise<void> {
    if (policy.limit <= 0) return;
    const k = this.#key(tenantId, name, key);
    this.#clean.delete(k);
    await this.#call(() => this.#limiter(policy).penalty(k, 1));
  }

  /**
   * For the password and one-time code forms (interactions/), called once per submitted attempt
   * before the password or code is checked (so a refused attempt costs no bcrypt and reveals
   * nothing), with the tenant's settings of the moment:
   *
   *   const verdict = await deps.rateLimits.loginAttempt(tenant.id, tenant.settings.rate_limits,
   *     { ip: ctx.ip, account: user?.id ?? normalizeEmail(email) });
   *   if (!verdict.allowed) → answer 429 with `Retry-After: verdict.retryAfterSeconds` and the form's
   *     generic "too many attempts, try again later" message (the same for known and unknown emails).
   *
   * Counts the attempt against `login_per_ip` (key: the source address, IPv4-mapped addresses
   * unwrapped, IPv6 by /64) and then, unless that refused, against `login_per_account`. `account`
   * is the user id when the account is known (always on the code form) and the normalized email
   * otherwise; leave it out when there is none. Every attempt counts, successful ones too:
   * failures alone are what the lockout (lockout.ts) counts.
   */
  async loginAttempt(tenantId: string, limits: Pick<RateLimitSettings, 'login_per_ip' | 'login_per_account'>, attempt: { ip: string; account?: string }): Promise<RateLimitDecision> {
    const byIp = await this.consume(tenantId, 'login_per_ip', [addressKey(attempt.ip)], limits.login_per_ip);
    if (!byIp.allowed || attempt.account === undefined) return byIp;
    return this.consume(tenantId, 'login_per_account', [attempt.account], limits.login_per_account);
  }

  #limiter(policy: RateLimitPolicy) {
    let limiter = this.#limiters.get(policy.window_seconds);
    if (!limiter) {
      const options = { keyPrefix: '', duration: policy.window_seconds, points: 0 }; // points: unused, see above
      limiter = this.kv instanceof RedisStore
        // Not ready (reconnecting) throws at once instead of queueing: the limit fails open.
        ? new RateLimiterRedis({ ...options, storeClient: this.kv.client, useRedisPackage: true, rejectIfRedisNotReady: true })
        : new RateLimiterMemory(options);
      this.#limiters.set(policy.window_seconds, limiter);
    }
    return limiter;
  }

  #key(tenantId: string, name: RateLimitName, parts: string[]) {
    // Encoded, so no part's ':' moves a boundary; a long part (a client_id is the caller's) is hashed.
    const safe = parts.map((p) => (p.length > 128 ? createHash('sha256').update(p).digest('base64url') : encodeURIComponent(p)));
    return kvKey(this.prefix, tenantId, 'rl', name, ...safe);
  }

  #refuse(name: RateLimitName, res: RateLimiterRes): RateLimitDecision {
    for (const listener of listeners) listener(name);
    observer()?.rateLimited(name); // gatehouse_rate_limited_total of the app serving this request
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
  }

  async #call<T>(op: () => Promise<T>): Promise<T | undefined> {
    try {
      // A Redis that answers nothing fails open too, within the deadline, not after the request's.
      // The in-process limiter answers from memory: no timer to set.
      const out = await (this.kv instanceof RedisStore ? withinDeadline(op()) : op());
      this.#outage.answered();
      return out;
    } catch (err) {
      this.#outage.failed(err);
      // The limiter talks to Redis itself: its failure is a sign of a lost cluster node, or of a
      // failover that left the connection on a replica, too (kv/redis.ts).
      if (this.kv instanceof RedisStore) this.kv.reportFailure(err);
      return undefined;
    }
  }
}

/** How long the store must answer without a failure before its outage is logged as over. */
export const RECOVERY_QUIET_MS = 10_000;

/**
 * The log of a store outage: `rate_limit.store_unavailable` at its first failure, and
 * `rate_limit.store_recovered` once the store has answered for RECOVERY_QUIET_MS with no failure
 * meanwhile. A partial outage (one Redis Cluster master lost: the tenants on it fail, the others
 * answer) is one outage, not a line pair every few requests.
 */
export class StoreOutage {
  #down = false;
  #lastFailure = 0;
  constructor(private readonly now: () => number = Date.now, private readonly quietMs = RECOVERY_QUIET_MS) {}

  failed(err: unknown) {
    this.#lastFailure = this.now();
    if (this.#down) return;
    this.#down = true;
    log().warn('rate_limit.store_unavailable', { detail: 'rate limits are not enforced until the store answers', error: { name: (err as Error)?.name, message: (err as Error)?.message } });
  }

  answered() {
    if (!this.#down || this.now() - this.#lastFailure < this.quietMs) return;
    this.#down = false;
    log().info('rate_limit.store_recovered');
  }
}

/**
 * One source in a key: an IPv4-mapped IPv6 address is its IPv4 address, and an IPv6 address
 * counts by its /64, the least one subscriber gets (RFC 6177), so a client cannot dodge a limit by
 * walking the addresses of its own network.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!ip.includes(':') || !isIPv6(ip)) return ip; // an IPv4 address has no colon: no IPv6 parse
  return `${ipv6Groups(ip).slice(0, 4).join(':')}::/64`;
}

function ipv6Groups(ip: string): string[] {
  let text = ip.split('%')[0].toLowerCase(); // no zone index
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((g) => parseInt(g, 16).toString(16));
}

/**
 * Keys a `peek` found with no count at all, remembered for `ttlMs`: a client that authenticates
 * correctly (the common case, thousands of grants a second) costs no Redis round trip per request
 * (in-process, no limiter lookup and its promise).
 * Exactness is what it was on one node: this node's own failure (penalty/consume) forgets the key
 * before its answer leaves, so the next request here reads the shared count. What it gives up is
 * another node's failures for at most `ttlMs`: an address failing on node A may, on a node B that
 * saw it clean within that time, try once more per request already in flight there; B's first
 * failure sends B back to the store. A bounded map (oldest dropped first) keeps memory flat.
 */
class CleanKeys {
  static readonly MAX = 10_000;
  ttlMs = 0;
  /** Events counted on this node so far (penalty, consume): a read during which this moved is not remembered. */
  counted = 0;
  readonly #until = new Map<string, number>();

  has(key: string) {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > performance.now()) return true;
    this.#until.delete(key);
    return false;
  }

  add(key: string) {
    if (this.ttlMs <= 0) return;
    this.#until.delete(key); // re-inserted at the end: the map's order is the expiry order
    if (this.#until.size >= CleanKeys.MAX) this.#until.delete(this.#until.keys().next().value!);
    this.#until.set(key, performance.now() + this.ttlMs);
  }

  delete(key: string) {
    this.counted++;
    this.#until.delete(key);
  }
}
