import { createClient, createCluster, ConnectionTimeoutError, ErrorReply, RootNodesUnavailableError } from 'redis';
import type { KvStore } from './store.js';
import { isKvUnavailable, KvNoAnswerError, replyCode, withinDeadline } from './unavailable.js';

type Client = ReturnType<typeof createClient>;
type Cluster = ReturnType<typeof createCluster>;

const CONNECT_TIMEOUT_MS = 3000;
/** How often, at most, a cluster's slots are asked for again while a node seems lost. */
const REDISCOVERY_INTERVAL_MS = 1000;
/** How often, at most, a connection refused a write by a replica (READONLY) is opened again. */
const REOPEN_INTERVAL_MS = 1000;
/** How long a node asked for the cluster's slots may take to answer (a frozen one never does). */
const SLOTS_ANSWER_MS = 2000;
/** How long a readiness ping of a cluster's masters may take before it counts as a lost node. */
const CLUSTER_PING_MS = 1000;

type RootNode = { url: string; socket: { socketTimeout: number } };

/** What came of asking a cluster for its slots again: the new masters, or why no node answered. */
export type SlotsChange = { ok: true; masters: string[]; changed: boolean } | { ok: false; reason: string; asked: string[] };

/** REDIS_URL or REDIS_CLUSTER_NODES cannot be used at start; the message names the variable and what is wrong. */
export class KvUnreachableError extends Error {}

/** Retries a lost connection for ever once connected, never before (a bad address fails the start). */
const reconnect = (connected: () => boolean) => (n: number) => (connected() ? Math.min(n * 100, 2000) : false);

/** Rejects with KvUnreachableError(`message`) after CONNECT_TIMEOUT_MS unless `work` settles first. */
async function bounded<T>(work: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KvUnreachableError(message)), CONNECT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

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
  return `REDIS_URL: cannot connect to ${target} (${code ?? reasonOf(err)})`;
}

export class RedisStore implements KvStore {
  readonly kind = 'redis' as const;
  #subscriber?: Client;

  /**
   * `client`: the node-redis client or cluster client, for libraries that speak Redis themselves
   * (security/rate-limit.ts).
   */
  private constructor(readonly client: Client | Cluster, rootNodes: RootNode[] = []) {
    this.#rootNodes = rootNodes;
  }

  /** REDIS_CLUSTER_NODES, where the slots are asked for again after a lost node (#followFailover). */
  readonly #rootNodes: RootNode[];
  #slotListeners: ((change: SlotsChange) => void)[] = [];

  /** Told when a cluster's slots were asked for again after a sign of a lost node: what came of it (for the log). */
  onSlotsChange(listener: (change: SlotsChange) => void) {
    this.#slotListeners.push(listener);
  }

  get cluster() {
    return 'masters' in this.client;
  }

  /** The commands below exist alike on both clients; TypeScript cannot call a union of overloads. */
  get #redis() {
    return this.client as Client;
  }

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
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: reconnect(() => connected) },
    });
    client.on('error', () => {}); // reconnects on its own; readiness is reported by /readyz
    const timeout = `REDIS_URL: no answer from ${target} within ${CONNECT_TIMEOUT_MS / 1000} s`;
    try {
      await bounded(client.connect(), timeout).catch((err) => {
        throw err instanceof KvUnreachableError ? err : new KvUnreachableError(describeConnectError(err, target), { cause: err });
      });
      // SELECT apart from the handshake, so its refusal can only mean the index (node-redis re-selects on reconnect).
      if (database) {
        await bounded(client.select(database), timeout).catch((err) => {
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
    }
  }

  /**
   * A Redis Cluster (REDIS_CLUSTER_NODES, `host:port` of one or more of its nodes): the client
   * learns the slots from the first node that answers and follows MOVED/ASK redirections. Every
   * key carries its tenant in a hash tag (store.ts kvKey), so the multi-key commands, MULTI and
   * the rate limiter's Lua script each touch one slot. Bounded like connect().
   */
  static async connectCluster(nodes: string[]): Promise<RedisStore> {
    let connected = false;
    // Each asked for the slots only (node-redis opens the nodes' own connections from them): with a
    // deadline, so a frozen node (which accepts and never answers) cannot hold every later ask.
    const rootNodes: RootNode[] = nodes.map((node) => ({ url: `redis://${node}`, socket: { socketTimeout: SLOTS_ANSWER_MS } }));
    const cluster = createCluster({
      rootNodes,
      // Node connections open at their first command, so asking for the slots never waits on a
      // node that does not answer (a dead master still listed for a moment, a frozen one).
      minimizeConnections: true,
      defaults: { disableOfflineQueue: true, socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: reconnect(() => connected) } },
    });
    // As above: nodes reconnect; the slots are learnt again on a MOVED or a lost node (below). While
    // connecting, a node's refusal to tell its slots (a plain Redis: cluster support disabled) is
    // kept, so the start's one line gives the server's own reason rather than "no node answered".
    let refusal: ErrorReply | undefined;
    cluster.on('error', (err: unknown) => {
      if (!connected && err instanceof ErrorReply) refusal = err;
    });
    const list = nodes.join(',');
    try {
      await bounded(cluster.connect(), `REDIS_CLUSTER_NODES: no cluster answered at ${list} within ${CONNECT_TIMEOUT_MS / 1000} s`).catch((err) => {
        if (err instanceof KvUnreachableError) throw err;
        const why = !(err instanceof RootNodesUnavailableError) ? `${(err as Error)?.name ?? 'error'}: ${(err as Error)?.message ?? ''}`
          : refusal ? `a node refused: ${reasonOf(refusal)}` : 'no node answered';
        throw new KvUnreachableError(`REDIS_CLUSTER_NODES: cannot reach a cluster at ${list} (${why})`, { cause: err });
      });
      connected = true;
      const store = new RedisStore(cluster, rootNodes);
      // A node's connection failing (a killed master reconnecting in vain, every 2 s at most).
      cluster.on('node-error', () => store.#followFailover());
      return store;
    } catch (err) {
      try {
        cluster.destroy();
      } catch {
        // never opened
      }
      throw err;
    }
  }

  #reopening = false;
  #lastRediscovery = 0;
  #rediscovering = false;
  #closed = false;

  /**
   * A command within the deadline (unavailable.ts). One left unanswered means the connection
   * serves nothing: it is dropped, which fails the commands queued on it at once, and opened
   * afresh (retried until Redis answers), so requests meanwhile answer 503 at once instead of
   * after the deadline each, and a Redis back at the same address, or a new one there after a
   * failover, serves again without waiting for the old connection to time out.
   */
  async #bounded<T>(command: Promise<T>): Promise<T> {
    try {
      return await withinDeadline(command);
    } catch (err) {
      if (err instanceof KvNoAnswerError) this.#reopen();
      else this.#reopenOnReadOnly(err);
      if (!this.cluster) throw err;
      // A node that told an empty slot map leaves node-redis with no client for any slot (its
      // TypeError would read as a 500): Redis is unavailable, and the slots are asked for again.
      const noSlots = !(this.client as Cluster).masters.length;
      if (noSlots || isKvUnavailable(err)) this.#followFailover();
      throw noSlots ? new RootNodesUnavailableError() : err;
    }
  }

  /**
   * A cluster client learns which master serves which slots when it connects, and again only on
   * a MOVED redirection. A master lost (killed, frozen, its pod gone) answers nothing, so no MOVED
   * ever comes: without this, its slots stayed on the dead address after a replica had taken
   * over, and its tenants answered 503 (and /readyz too) until that address answered again. Here
   * each sign of a lost node (a node's connection error, a command failing or going unanswered,
   * a failed readiness ping) asks the cluster for its slots again, at most once a second, from a
   * node of REDIS_CLUSTER_NODES (node-redis tries the others when it does not answer); a node that
   * no longer serves slots is dropped, and commands go to the new master as soon as there is one.
   */
  #followFailover() {
    const now = Date.now();
    if (!this.cluster || this.#closed || this.#rediscovering || now - this.#lastRediscovery < REDISCOVERY_INTERVAL_MS) return;
    this.#lastRediscovery = now;
    // node-redis has no public call for it (5.x: the slots' own rediscover, as a MOVED runs it).
    const slots = (this.client as unknown as { _slots?: { rediscover?(startWith: { options: unknown }): Promise<void> } })._slots;
    if (typeof slots?.rediscover !== 'function') return;
    const root = this.#rootNodes[Math.floor(Math.random() * this.#rootNodes.length)];
    const before = this.#masters();
    const asked = this.#rootNodes.map((n) => n.url.replace('redis://', ''));
    this.#rediscovering = true;
    slots.rediscover({ options: root }).then(
      () => {
        const masters = this.#masters();
        // An answer without masters (a node restarted without its cluster state): asked again at the next sign.
        if (!masters.length) this.#tell({ ok: false, reason: 'the node asked knew no slots', asked });
        else this.#tell({ ok: true, masters, changed: masters.join() !== before.join() });
      },
      // None answered: the next sign asks again.
      (err: unknown) => this.#tell({ ok: false, reason: reasonOf(err), asked }),
    ).finally(() => {
      this.#rediscovering = false;
    });
  }

  /**
   * Public: a caller that talks to Redis itself (the rate limiter) reports a failed command: a
   * sign of a lost cluster node, or of a failover that left this connection on a replica. One it
   * gave up waiting for is a connection that serves nothing, as in #bounded: dropped and opened
   * afresh, so the request's own commands after it fail at once instead of waiting out the
   * deadline a second time.
   */
  reportFailure(err: unknown) {
    if (err instanceof KvNoAnswerError) this.#reopen();
    else this.#reopenOnReadOnly(err);
    this.#followFailover();
  }

  #lastReadOnlyReopen = 0;

  /**
   * A replica's refusal of a write (READONLY, also inside an aborted MULTI): a failover left this
   * connection on the old master, and a new one may reach the server the address leads to now.
   * At most once a second, so an address still leading to the replica (a DNS TTL) is not
   * reconnected at every request, failing the reads the replica could answer.
   */
  #reopenOnReadOnly(err: unknown) {
    if (this.cluster || replyCode(err) !== 'READONLY' || Date.now() - this.#lastReadOnlyReopen < REOPEN_INTERVAL_MS) return;
    this.#lastReadOnlyReopen = Date.now();
    this.#reopen();
  }

  #masters() {
    return (this.client as Cluster).masters.map((m) => m.address).sort();
  }

  #tell(change: SlotsChange) {
    for (const listener of this.#slotListeners) {
      try {
        listener(change);
      } catch {
        // a listener's failure (the log) changes nothing here
      }
    }
  }

  #reopen() {
    // A cluster's clients are its nodes', each reconnecting by itself; a closed store stays closed.
    if (this.cluster || this.#reopening || this.#closed) return;
    this.#reopening = true;
    const client = this.client as Client;
    try {
      client.destroy();
    } catch {
      // already closed
    }
    client.connect().catch(() => {}).finally(() => {
      this.#reopening = false;
    });
  }

  async get(key: string) {
    return (await this.#bounded(this.#redis.get(key))) ?? undefined;
  }

  async set(key: string, value: string, ttlSeconds?: number) {
    if (ttlSeconds && ttlSeconds > 0) await this.#bounded(this.#redis.set(key, value, { EX: Math.ceil(ttlSeconds) }));
    else await this.#bounded(this.#redis.set(key, value));
  }

  async del(...keys: string[]) {
    if (keys.length) await this.#bounded(this.#redis.del(keys)); // one tenant's keys: one slot
  }

  async sadd(key: string, member: string, ttlSeconds: number) {
    await this.#bounded(this.#redis.multi().sAdd(key, member).expire(key, Math.ceil(ttlSeconds), 'GT').expire(key, Math.ceil(ttlSeconds), 'NX').exec());
  }

  async smembers(key: string) {
    return this.#bounded(this.#redis.sMembers(key));
  }

  async srem(key: string, member: string) {
    await this.#bounded(this.#redis.sRem(key, member));
  }

  async srandmember(key: string, count: number) {
    return this.#bounded(this.#redis.sRandMemberCount(key, count));
  }

  async incr(key: string, ttlSeconds: number) {
    const [count] = await this.#bounded(this.#redis.multi().incr(key).expire(key, Math.ceil(ttlSeconds), 'NX').exec());
    return Number(count);
  }

  async publish(channel: string, message: string) {
    await this.#bounded(this.#redis.publish(channel, message));
  }

  async subscribe(channel: string, handler: (message: string) => void) {
    if (this.cluster) {
      // The cluster client keeps a subscriber connection of its own (PUBLISH reaches every node).
      await (this.client as Cluster).subscribe(channel, handler);
      return;
    }
    if (!this.#subscriber) {
      this.#subscriber = this.#redis.duplicate();
      this.#subscriber.on('error', () => {});
      await this.#subscriber.connect();
    }
    await this.#subscriber.subscribe(channel, handler);
  }

  /** A single server answers PING; a cluster is up when every master does (each owns some tenants' slots). */
  async ping() {
    try {
      if (!this.cluster) return (await this.#redis.ping()) === 'PONG';
      const cluster = this.client as Cluster;
      if (!cluster.masters.length) {
        this.#followFailover();
        return false;
      }
      // Bounded: a frozen master never answers, and an unanswered ping must still count as a sign.
      const answers = await withinDeadline(Promise.all(cluster.masters.map(async (master) => (await cluster.nodeClient(master)).ping())), CLUSTER_PING_MS);
      if (answers.every((a) => a === 'PONG')) return true;
      this.#followFailover();
      return false;
    } catch {
      this.#followFailover();
      return false;
    }
  }

  async close() {
    this.#closed = true; // no slots asked for after this: they would open node connections again
    await Promise.allSettled([this.#subscriber?.quit(), this.client.close()]);
  }
}

/** An error without a code, in a few words: its message on one line ("Socket closed unexpectedly"), else its name. */
function reasonOf(err: unknown) {
  const message = err instanceof Error ? err.message.split('\n')[0].trim().slice(0, 160) : '';
  return message || (err as Error | null)?.name || 'unknown error';
}
