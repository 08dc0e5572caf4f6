import { EventEmitter } from 'node:events';
import type { Db } from '../db/knex.js';
import { listen, type Listening } from '../db/listen.js';
import { CHANGE_CHANNEL, decodeChange, localChanges, type Change } from '../domain/changes.js';
import { log } from '../log/logger.js';

/**
 * The changes announced by domain services (domain/changes.ts), as this node learns them:
 * - 'change' (Change): from Postgres NOTIFY (any node, the CLI), and from this node's own
 *   writes as soon as they commit;
 * - 'live' (boolean): whether the LISTEN connection holds. Every flip means notifications may
 *   have been missed, so listeners must forget everything they cached.
 */
export class ChangeFeed extends EventEmitter {
  #live = false;
  #listening?: Listening;
  readonly #onLocal = (change: Change) => this.emit('change', change);

  private constructor(private readonly db: Db) {
    super();
    this.setMaxListeners(0);
  }

  static async follow(db: Db): Promise<ChangeFeed> {
    const feed = new ChangeFeed(db);
    localChanges(db).on('change', feed.#onLocal);
    feed.#listening = await listen(db, CHANGE_CHANNEL, {
      message: (payload) => {
        const change = decodeChange(payload);
        if (change) feed.emit('change', change);
      },
      live: (isLive) => {
        if (isLive === feed.#live) return;
        feed.#live = isLive;
        if (!isLive) log().warn('changes.listen_lost', { detail: 'caches off until the LISTEN connection is back' });
        feed.emit('live', isLive);
      },
    });
    return feed;
  }

  get live() {
    return this.#live;
  }

  async close() {
    localChanges(this.db).off('change', this.#onLocal);
    this.#live = false;
    this.emit('live', false);
    await this.#listening?.close();
  }
}
