import pg from 'pg';
import { isEmbedded, type Db } from './knex.js';

export interface ListenHandlers {
  message(payload: string): void;
  /**
   * `false` when the listening connection is lost, `true` once LISTEN holds again. Notifications
   * sent while it was down are gone, so whoever caches on the strength of them starts over.
   */
  live(isLive: boolean): void;
}

export interface Listening {
  close(): Promise<void>;
}

/**
 * LISTEN on `channel` (a plain lower-case identifier). PostgreSQL gets a connection of its own,
 * outside the pool, which reconnects with backoff; PGlite delivers in process and cannot drop.
 */
export async function listen(db: Db, channel: string, on: ListenHandlers): Promise<Listening> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
  if (isEmbedded(db)) {
    const pglite = (db.client as { pglite: { listen(c: string, cb: (p: string) => void): Promise<() => Promise<void>> } }).pglite;
    const unlisten = await pglite.listen(channel, on.message);
    on.live(true);
    return { close: () => unlisten().catch(() => {}) };
  }
  // knex keeps the parsed settings (user, host, database...), which pg.Client takes as they are.
  const connection = db.client.config.connection as string | pg.ClientConfig;
  return PgListener.start(typeof connection === 'string' ? { connectionString: connection } : connection, channel, on);
}

/**
 * How often the listening connection is asked whether it still answers, and how long it may take.
 * A connection that a firewall or NAT dropped without a word, or whose server process hangs,
 * delivers nothing and reports nothing: TCP keep-alive would notice after hours. Caches that
 * trust the feed would serve a rotated secret or a deleted client all that time.
 */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_DEADLINE_MS = 5_000;

class PgListener implements Listening {
  #client?: pg.Client;
  #heartbeat?: NodeJS.Timeout;
  #closed = false;
  #retry?: NodeJS.Timeout;
  #attempt = 0;

  private constructor(private readonly settings: pg.ClientConfig, private readonly channel: string, private readonly on: ListenHandlers) {}

  static async start(settings: pg.ClientConfig, channel: string, on: ListenHandlers) {
    const listener = new PgListener(settings, channel, on);
    await listener.#connect();
    return listener;
  }

  async #connect() {
    if (this.#closed) return;
    // A server that accepts the connection and never answers holds no attempt for long either.
    const client = new pg.Client({ ...this.settings, keepAlive: true, connectionTimeoutMillis: HEARTBEAT_DEADLINE_MS });
    this.#client = client;
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      clearInterval(this.#heartbeat);
      this.on.live(false);
      client.end().catch(() => {});
      dropSocket(client);
      this.#schedule();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (n) => n.channel === this.channel && n.payload !== undefined && this.on.message(n.payload));
    const deadline = setTimeout(onLost, HEARTBEAT_DEADLINE_MS * 2); // connected, then LISTEN unanswered
    deadline.unref();
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      clearTimeout(deadline);
      if (this.#closed || lost) return;
      this.#attempt = 0;
      this.on.live(true);
      this.#beat(client, onLost, () => lost);
    } catch {
      clearTimeout(deadline);
      onLost();
    }
  }

  /**
   * Every HEARTBEAT_MS, the LISTEN again (a no-op on a channel already listened to, and it keeps
   * what pg_stat_activity shows for this connection): no answer within HEARTBEAT_DEADLINE_MS and
   * the connection counts as lost, so the caches start over and a new connection listens.
   */
  #beat(client: pg.Client, onLost: () => void, isLost: () => boolean) {
    let pending = false;
    this.#heartbeat = setInterval(() => {
      if (pending || isLost() || this.#closed) return;
      pending = true;
      // Decided after the event loop's next poll: an answer that arrived while the loop was busy
      // (a stall as long as the deadline) is read first, and does not count as silence.
      const deadline = setTimeout(() => setImmediate(() => pending && onLost()), HEARTBEAT_DEADLINE_MS);
      deadline.unref();
      client.query(`LISTEN ${this.channel}`).then(() => {
        pending = false;
        clearTimeout(deadline);
      }, () => {
        clearTimeout(deadline);
        onLost();
      });
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  #schedule() {
    if (this.#closed || this.#retry) return;
    const delay = Math.min(2000, 100 * 2 ** this.#attempt++);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, delay);
    this.#retry.unref();
  }

  async close() {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    this.#client?.removeAllListeners('end');
    this.#client?.removeAllListeners('error');
    this.#client?.on('error', () => {});
    const client = this.#client;
    const gone = setTimeout(() => client && dropSocket(client), HEARTBEAT_DEADLINE_MS);
    gone.unref();
    await client?.end().catch(() => {});
    clearTimeout(gone);
  }
}

/** end() waits for the server to close its side of the connection, which a hung server never does. */
function dropSocket(client: pg.Client) {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
