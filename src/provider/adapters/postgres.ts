import type { Knex } from 'knex';
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { hotQuery } from '../../db/hot-query.js';
import { canNameRow, type Db } from '../../db/knex.js';

/**
 * oidc-provider artifacts that must survive a restart, in table oidc_payloads.
 *
 * Every login runs about ten of these statements, so they are written out as SQL with bound
 * values and sent with hotQuery (db/hot-query.ts) instead of built by Knex's query builder on
 * every call, which cost about as much CPU again as sending the query and reading its answer.
 */
export class PostgresAdapter implements Adapter {
  constructor(private readonly db: Db, private readonly tenantId: string, private readonly model: string) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    const values = this.values(id, payload, expiresIn);
    // In a caller's transaction the setting would hold for the whole of it: there, wait for the flush.
    const save = this.db.isTransaction ? SAVE_IN_TRANSACTION : SAVE;
    if (this.model === 'Session') {
      await this.saveSession(save.session, [], values, payload);
    } else if (this.model === 'Grant') {
      if ((await hotQuery(this.db, save.grant, values)).rows.length === 0) throw new errors.InvalidGrant('grant revoked');
    } else {
      await hotQuery(this.db, save.other, values);
    }
  }

  /**
   * A session's id rotation (oidc-provider's resetIdentifier, at a resume and a partial logout):
   * the old id retired and the new one saved in one statement, so nothing runs between them. The
   * new id is saved only when the old one has not ended: a session logged out or revoked while
   * the rotating request was in flight is not carried over to the new id (SessionNotFound).
   */
  async rotate(oldId: string, id: string, payload: AdapterPayload, expiresIn: number) {
    if (this.model !== 'Session' || !canNameRow(oldId)) throw new errors.SessionNotFound('session ended');
    await this.saveSession(ROTATE_SESSION, [new Date(), this.tenantId, oldId], this.values(id, payload, expiresIn), payload);
  }

  private values(id: string, payload: AdapterPayload, expiresIn: number) {
    const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
    return [
      this.tenantId, this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null,
      payload.uid ?? null, payload.accountId ?? null, expiresAt, new Date(),
    ];
  }

  private async saveSession(sql: string, before: Knex.RawBinding[], values: Knex.RawBinding[], payload: AdapterPayload) {
    const client = sessionClient();
    const saved = await hotQuery(this.db, sql, [...before, ...values, client.ip ?? null, client.user_agent ?? null, this.tenantId, payload.uid ?? null]);
    if (saved.rows.length === 0) throw new errors.SessionNotFound('session ended');
  }

  private async findWhere(column: 'id' | 'uid' | 'user_code', value: string) {
    if (!canNameRow(value)) return undefined;
    const result = await hotQuery(this.db, FIND[column], [this.tenantId, this.model, value, new Date()]);
    const row = result.rows[0];
    if (!row || (row.consumed_at && ENDED_MODELS.has(this.model))) return undefined;
    const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
    return row.consumed_at ? { ...payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : payload;
  }

  find(id: string) {
    return this.findWhere('id', id);
  }

  findByUid(uid: string) {
    return this.findWhere('uid', uid);
  }

  findByUserCode(userCode: string) {
    return this.findWhere('user_code', userCode);
  }

  /** Compare-and-set: of two concurrent uses (a code, a rotating refresh token) only one passes. */
  async consume(id: string) {
    if (!canNameRow(id)) return;
    const result = await hotQuery(this.db, CONSUME, [new Date(), this.tenantId, this.model, id]);
    if (result.rows.length === 0) throw new errors.InvalidGrant('grant source already consumed');
  }

  /**
   * A grant and a session are ended, not deleted (see ENDED_MODELS). oidc-provider destroys a
   * session only at logout (its id rotation goes through rotate()): ended, its uid is refused from
   * then on, so a request in flight cannot write the logged-out session back, under its id or a
   * rotated one.
   */
  async destroy(id: string) {
    if (!canNameRow(id)) return;
    if (ENDED_MODELS.has(this.model)) await hotQuery(this.db, END, [new Date(), tombstoneExpiry(), this.tenantId, this.model, id]);
    else await hotQuery(this.db, DESTROY, [this.tenantId, this.model, id]);
  }

  async revokeByGrantId(grantId: string) {
    await hotQuery(this.db, REVOKE_BY_GRANT, [this.tenantId, this.model, grantId]);
  }
}

/**
 * Sessions and grants that end (revoked, signed out everywhere, password reset, a grant revoked
 * on refresh-token reuse) are marked ended (`consumed_at`), their payload emptied, and kept for
 * TOMBSTONE_SECONDS, instead of deleted. oidc-provider saves a session and a grant at the end of a
 * request that loaded them: deleted, a request still in flight when they ended (a `prompt=none`
 * from a stolen cookie, say) would write them back with an upsert, and the cookie would be
 * signed in again. An ended row is never found and never written over; a session saved under a
 * new id with the uid of an ended one is refused too. Those saves throw, so the request that
 * would have revived them fails instead of answering as if they lived.
 */
export const ENDED_MODEL_NAMES = ['Session', 'Grant'];
const ENDED_MODELS = new Set(ENDED_MODEL_NAMES);
/** Longer than any request can be in flight; the expiry sweep removes the row after it. */
export const TOMBSTONE_SECONDS = 3600;
const tombstoneExpiry = () => new Date(Date.now() + TOMBSTONE_SECONDS * 1000);

const INSERT = `insert into oidc_payloads
  (tenant_id, model, id, payload, grant_id, user_code, uid, account_id, expires_at, updated_at`;
const MERGE = `on conflict (tenant_id, model, id) do update set
  payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid,
  account_id = excluded.account_id, expires_at = excluded.expires_at, updated_at = excluded.updated_at`;
/**
 * What a new or updated artifact is saved with: its commit does not wait for PostgreSQL to flush
 * its WAL to disk (synchronous_commit off for this statement's own transaction only). A database
 * crash may then forget what was saved in its last moments — a session, a grant, a token just
 * issued — and each of those fails closed: the user logs in again, the client gets invalid_grant.
 * What must not come back after a crash still waits for the flush: ends and revocations (END,
 * REVOKE_BY_GRANT, DESTROY), single use (CONSUME), a session's id rotation (ROTATE_SESSION: its
 * old id must stay retired), and every audit event. A later flush writes the earlier records too,
 * so nothing is kept out of order. About 0.1 ms of the database's time per statement (pgbench on
 * the bench machine: 0.17 → 0.08 ms an insert).
 */
const ASYNC_COMMIT = `(select set_config('synchronous_commit', 'off', true)) async_commit`;
const VALUES = '?::uuid, ?::text, ?::text, ?::jsonb, ?::text, ?::text, ?::text, ?::text, ?::timestamptz, ?::timestamptz';
const upsert = (from: string) => `${INSERT}) select ${VALUES} ${from} ${MERGE}`;
const upsertGrant = (from: string) => `${upsert(from)} where oidc_payloads.consumed_at is null returning id`;
/**
 * A session also keeps where it was last used from; a save outside a request leaves that as it
 * was. Neither an ended session nor a new id for an ended session's uid is written.
 */
const sessionUpsert = (alsoWhen = '', from = '') => `${INSERT}, ip, user_agent)
  select ${VALUES}, ?::text, ?::text ${from}
   where not exists (select 1 from oidc_payloads ended
                      where ended.tenant_id = ? and ended.model = 'Session' and ended.uid = ? and ended.consumed_at is not null)
   ${alsoWhen}
  ${MERGE},
  ip = coalesce(excluded.ip, oidc_payloads.ip),
  user_agent = case when excluded.ip is null then oidc_payloads.user_agent else excluded.user_agent end
  where oidc_payloads.consumed_at is null and (oidc_payloads.expires_at is null or oidc_payloads.expires_at > excluded.updated_at)
  returning id`;
const SAVE = { session: sessionUpsert('', `from ${ASYNC_COMMIT}`), grant: upsertGrant(`from ${ASYNC_COMMIT}`), other: upsert(`from ${ASYNC_COMMIT}`) };
const SAVE_IN_TRANSACTION = { session: sessionUpsert(), grant: upsertGrant(''), other: upsert('') };
const OF_MODEL = 'tenant_id = ? and model = ? and';
const UNEXPIRED = 'and (expires_at is null or expires_at > ?) limit 1';
const FIND = {
  id: `select payload, consumed_at from oidc_payloads where ${OF_MODEL} id = ? ${UNEXPIRED}`,
  uid: `select payload, consumed_at from oidc_payloads where ${OF_MODEL} uid = ? ${UNEXPIRED}`,
  user_code: `select payload, consumed_at from oidc_payloads where ${OF_MODEL} user_code = ? ${UNEXPIRED}`,
};
const CONSUME = `update oidc_payloads set consumed_at = ? where ${OF_MODEL} id = ? and consumed_at is null returning id`;
const DESTROY = `delete from oidc_payloads where ${OF_MODEL} id = ?`;
const END = `update oidc_payloads set consumed_at = ?, payload = '{}'::jsonb, expires_at = ?
  where ${OF_MODEL} id = ? and consumed_at is null`;
/**
 * The old id retired (expired at once, emptied, kept for the sweep) and the new id saved, only if
 * the old one had not ended (a logout or a revocation marks it). One retired by another rotation
 * of the same session at the same time (two tabs resuming) passes: both go on under new ids.
 */
const ROTATE_SESSION = `with retired as (
    update oidc_payloads set expires_at = ?, payload = '{}'::jsonb
     where tenant_id = ? and model = 'Session' and id = ? and consumed_at is null
     returning id)
  ${sessionUpsert('and exists (select 1 from retired)')}`;
const REVOKE_BY_GRANT = `delete from oidc_payloads where ${OF_MODEL} grant_id = ?`;

/**
 * Where a session was last used from, for the admin API's session list: the client address, as
 * everywhere in Gatehouse (security/client-address.ts; X-Forwarded-For only from TRUST_PROXY).
 */
function sessionClient(): { ip?: string; user_agent?: string } {
  const ctx = Provider.ctx;
  if (!ctx) return {};
  return { ip: ctx.ip || undefined, user_agent: ctx.get('user-agent').slice(0, 512) || undefined };
}

/**
 * Marks a user's sessions and grants ended (see ENDED_MODELS) where `scope` narrows the rows
 * further; returns how many live ones ended. A second pass ends, counted, the row a rotation of
 * one of them inserted under a new id while the first statement waited for its lock (that
 * statement cannot see it; the second, started after the rotation committed, does): it is the
 * same live session. Then every other unended row in scope is marked, uncounted: retired sessions
 * (an id rotated away), whose uid must stay refused.
 */
export async function endSessionsAndGrants(db: Db, tenantId: string, scope: (q: Knex.QueryBuilder) => void) {
  const now = new Date();
  const rows = (liveOnly: boolean) => {
    const query = db('oidc_payloads').where({ tenant_id: tenantId }).whereIn('model', ENDED_MODEL_NAMES).whereNull('consumed_at').andWhere(scope);
    if (liveOnly) query.andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now));
    return query.update({ consumed_at: now, payload: '{}', expires_at: tombstoneExpiry() }).returning('id');
  };
  const ended = (await rows(true)).length;
  const rotatedIn = (await rows(true)).length;
  await rows(false);
  return ended + rotatedIn;
}

/**
 * Ends a user's sessions by uid, as endSessionsAndGrants does (live rows counted, the row a
 * rotation inserted meanwhile among them; then every unended row of those uids), and returns the
 * grants the rows held as they ended. Those are read
 * from the rows under their lock, not from an earlier read of the caller: a consent that resumed
 * meanwhile added its grant to the session (under a new id, or the same), and that grant must
 * end with the session too.
 */
export async function endSessionsByUid(db: Db, tenantId: string, accountId: string, uids: string[]) {
  const grantIds = new Set<string>();
  let ended = 0;
  for (const liveOnly of [true, false]) {
    const now = new Date();
    const { rows } = await db.raw(
      `with ending as (
         select id, payload -> 'authorizations' as authorizations, (expires_at is null or expires_at > ?) as live from oidc_payloads
          where tenant_id = ? and model = 'Session' and account_id = ? and uid in (${uids.map(() => '?').join(', ')})
            and consumed_at is null ${liveOnly ? 'and (expires_at is null or expires_at > ?)' : ''}
          for update)
       update oidc_payloads ended set consumed_at = ?, payload = '{}'::jsonb, expires_at = ?
         from ending where ended.tenant_id = ? and ended.model = 'Session' and ended.id = ending.id
       returning ending.authorizations, ending.live`,
      [now, tenantId, accountId, ...uids, ...(liveOnly ? [now] : []), now, tombstoneExpiry(), tenantId],
    );
    // The second pass's live row is one a rotation inserted under a new id while the first
    // waited for the old row's lock: the same session, ended now.
    ended += (rows as { live: boolean }[]).filter((r) => r.live).length;
    for (const row of rows as { authorizations: unknown }[]) {
      const authorizations = typeof row.authorizations === 'string' ? JSON.parse(row.authorizations) : row.authorizations;
      for (const entry of Object.values((authorizations ?? {}) as Record<string, { grantId?: unknown }>)) {
        if (typeof entry?.grantId === 'string') grantIds.add(entry.grantId);
      }
    }
  }
  return { ended, grantIds: [...grantIds] };
}

/** The user a grant was for, live or ended (an ended grant's row keeps account_id). */
export async function accountOfGrant(db: Db, tenantId: string, grantId: string): Promise<string | undefined> {
  const row = await db('oidc_payloads').where({ tenant_id: tenantId, model: 'Grant', id: grantId }).first('account_id');
  return row?.account_id ?? undefined;
}

/** Expired rows are dead weight; any node may sweep them. */
export async function deleteExpiredPayloads(db: Db) {
  // In batches: a node that issued opaque tokens for hours leaves hundreds of thousands, and one
  // statement deleting them all would run past the server's statement deadline (db/knex.ts)
  // every time, and hold their row locks as long.
  const now = new Date();
  let deleted = 0;
  for (;;) {
    const expired = db('oidc_payloads').where('expires_at', '<', now).select('tenant_id', 'model', 'id').limit(SWEEP_BATCH);
    // The condition again on the delete itself: a row saved with a later expiry since the
    // subquery read it is checked anew (as the row it is now) and kept.
    // Counted by the rows returned: the embedded database's driver answers a delete with a result
    // object, not a count.
    const rows = await db('oidc_payloads').where('expires_at', '<', now).whereIn(['tenant_id', 'model', 'id'], expired).delete().returning('id');
    deleted += rows.length;
    if (rows.length < SWEEP_BATCH) return deleted;
  }
}
const SWEEP_BATCH = 5_000;
