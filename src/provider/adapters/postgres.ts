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
    const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
    const values = [
      this.tenantId, this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null,
      payload.uid ?? null, payload.accountId ?? null, expiresAt, new Date(),
    ];
    if (this.model !== 'Session') {
      await hotQuery(this.db, UPSERT, values);
      return;
    }
    const client = sessionClient();
    await hotQuery(this.db, UPSERT_SESSION, [...values, client.ip ?? null, client.user_agent ?? null]);
  }

  private async findWhere(column: 'id' | 'uid' | 'user_code', value: string) {
    if (!canNameRow(value)) return undefined;
    const result = await hotQuery(this.db, FIND[column], [this.tenantId, this.model, value, new Date()]);
    const row = result.rows[0];
    if (!row) return undefined;
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

  async destroy(id: string) {
    if (!canNameRow(id)) return;
    await hotQuery(this.db, DESTROY, [this.tenantId, this.model, id]);
  }

  async revokeByGrantId(grantId: string) {
    await hotQuery(this.db, REVOKE_BY_GRANT, [this.tenantId, this.model, grantId]);
  }
}

const INSERT = `insert into oidc_payloads
  (tenant_id, model, id, payload, grant_id, user_code, uid, account_id, expires_at, updated_at`;
const MERGE = `on conflict (tenant_id, model, id) do update set
  payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid,
  account_id = excluded.account_id, expires_at = excluded.expires_at, updated_at = excluded.updated_at`;
const UPSERT = `${INSERT}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ${MERGE}`;
/** A session also keeps where it was last used from; a save outside a request leaves that as it was. */
const UPSERT_SESSION = `${INSERT}, ip, user_agent) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ${MERGE},
  ip = coalesce(excluded.ip, oidc_payloads.ip),
  user_agent = case when excluded.ip is null then oidc_payloads.user_agent else excluded.user_agent end`;
const OF_MODEL = 'tenant_id = ? and model = ? and';
const UNEXPIRED = 'and (expires_at is null or expires_at > ?) limit 1';
const FIND = {
  id: `select payload, consumed_at from oidc_payloads where ${OF_MODEL} id = ? ${UNEXPIRED}`,
  uid: `select payload, consumed_at from oidc_payloads where ${OF_MODEL} uid = ? ${UNEXPIRED}`,
  user_code: `select payload, consumed_at from oidc_payloads where ${OF_MODEL} user_code = ? ${UNEXPIRED}`,
};
const CONSUME = `update oidc_payloads set consumed_at = ? where ${OF_MODEL} id = ? and consumed_at is null returning id`;
const DESTROY = `delete from oidc_payloads where ${OF_MODEL} id = ?`;
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

/** Expired rows are dead weight; any node may sweep them. */
export async function deleteExpiredPayloads(db: Db) {
  return db('oidc_payloads').where('expires_at', '<', new Date()).delete();
}
