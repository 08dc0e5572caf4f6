import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { canNameRow, type Db } from '../../db/knex.js';

/** oidc-provider artifacts that must survive a restart, in table oidc_payloads. */
export class PostgresAdapter implements Adapter {
  constructor(private readonly db: Db, private readonly tenantId: string, private readonly model: string) {}

  private rows() {
    return this.db('oidc_payloads').where({ tenant_id: this.tenantId, model: this.model });
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    const row = {
      tenant_id: this.tenantId,
      model: this.model,
      id,
      payload: JSON.stringify(payload),
      grant_id: payload.grantId ?? null,
      user_code: payload.userCode ?? null,
      uid: payload.uid ?? null,
      account_id: payload.accountId ?? null,
      expires_at: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      updated_at: new Date(),
      ...(this.model === 'Session' ? sessionClient() : {}),
    };
    await this.db('oidc_payloads')
      .insert(row)
      .onConflict(['tenant_id', 'model', 'id'])
      .merge(['payload', 'grant_id', 'user_code', 'uid', 'account_id', 'expires_at', 'updated_at', ...(row.ip ? ['ip', 'user_agent'] as const : [])]);
  }

  private async findWhere(where: Record<string, string>) {
    if (!Object.values(where).every(canNameRow)) return undefined;
    const row = await this.rows()
      .where(where)
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date()))
      .first();
    if (!row) return undefined;
    const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
    return row.consumed_at ? { ...payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : payload;
  }

  find(id: string) {
    return this.findWhere({ id });
  }

  findByUid(uid: string) {
    return this.findWhere({ uid });
  }

  findByUserCode(userCode: string) {
    return this.findWhere({ user_code: userCode });
  }

  /** Compare-and-set: of two concurrent uses (a code, a rotating refresh token) only one passes. */
  async consume(id: string) {
    if (!canNameRow(id)) return;
    const rows = await this.rows().where({ id }).whereNull('consumed_at').update({ consumed_at: new Date() }).returning('id');
    if (rows.length === 0) throw new errors.InvalidGrant('grant source already consumed');
  }

  async destroy(id: string) {
    if (!canNameRow(id)) return;
    await this.rows().where({ id }).delete();
  }

  async revokeByGrantId(grantId: string) {
    await this.rows().where({ grant_id: grantId }).delete();
  }
}

/**
 * Where a session was last used from, for the admin API's session list. The peer address, like
 * the rest of Gatehouse: X-Forwarded-For is not trusted, since any client can send it.
 */
function sessionClient(): { ip?: string; user_agent?: string } {
  const ctx = Provider.ctx;
  if (!ctx) return {};
  return { ip: ctx.req.socket.remoteAddress ?? undefined, user_agent: ctx.get('user-agent').slice(0, 512) || undefined };
}

/** Expired rows are dead weight; any node may sweep them. */
export async function deleteExpiredPayloads(db: Db) {
  return db('oidc_payloads').where('expires_at', '<', new Date()).delete();
}
