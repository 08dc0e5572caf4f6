import type { Db } from '../../db/knex.js';
import type { SigningKey } from './keys.types.js';

export function toSigningKey(row: any): SigningKey {
  return {
    tenantId: row.tenant_id,
    kid: row.kid,
    alg: row.alg,
    status: row.status,
    publicJwk: typeof row.public_jwk === 'string' ? JSON.parse(row.public_jwk) : row.public_jwk,
    createdAt: new Date(row.created_at),
    rotatedAt: row.rotated_at ? new Date(row.rotated_at) : null,
  };
}

/**
 * Every published key: current keys first, the tenant's own algorithm before its RS256 companion
 * (keys.service.ts), then the next keys in the same order, then previous ones newest first.
 * oidc-provider signs with the first key of an algorithm, so only current keys sign.
 */
export async function findSigningKeys(db: Db, tenantId: string) {
  const rows = await db('signing_keys')
    .where({ tenant_id: tenantId })
    .whereIn('status', ['current', 'next', 'previous'])
    .orderByRaw(`case status when 'current' then 0 when 'next' then 1 else 2 end`)
    .orderByRaw(`case when status <> 'previous' and alg = 'RS256' then 1 else 0 end`)
    .orderBy('created_at', 'desc');
  return rows.map((row) => ({ key: toSigningKey(row), sealed: row.private_jwk_encrypted as string }));
}

export async function insertSigningKey(db: Db, key: Omit<SigningKey, 'createdAt' | 'rotatedAt'>, sealedPrivateJwk: string) {
  await db('signing_keys').insert({
    tenant_id: key.tenantId,
    kid: key.kid,
    alg: key.alg,
    status: key.status,
    public_jwk: JSON.stringify(key.publicJwk),
    private_jwk_encrypted: sealedPrivateJwk,
  });
}

export async function updateCurrentKeysToPrevious(db: Db, tenantId: string) {
  await db('signing_keys').where({ tenant_id: tenantId, status: 'current' }).update({ status: 'previous', rotated_at: db.fn.now() });
}

/**
 * Makes the tenant's next key of `alg` current, if it has one, and returns its kid. Its
 * `created_at` becomes the moment it starts signing: the schedule counts a key's age from there.
 */
export async function promoteNextKey(db: Db, tenantId: string, alg: string): Promise<string | undefined> {
  const rows = await db('signing_keys')
    .where({ tenant_id: tenantId, status: 'next', alg })
    .whereIn('kid', db('signing_keys').where({ tenant_id: tenantId, status: 'next', alg }).orderBy('created_at', 'desc').limit(1).select('kid'))
    .update({ status: 'current', created_at: db.fn.now() })
    .returning('kid');
  return rows[0]?.kid;
}

/** Next keys left over (of an algorithm the tenant no longer uses) leave JWKS: they never signed. */
export async function updateNextKeysRetired(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db('signing_keys').where({ tenant_id: tenantId, status: 'next' }).update({ status: 'retired', rotated_at: db.fn.now() }).returning('kid');
  return rows.map((r: { kid: string }) => r.kid);
}

/** Algorithms of the tenant's current keys that have no next key yet (a tenant made before next keys, or a companion added at start). */
export async function findAlgsWithoutNextKey(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db('signing_keys as c')
    .where({ 'c.tenant_id': tenantId, 'c.status': 'current' })
    .whereNotExists(db('signing_keys as n').whereRaw('n.tenant_id = c.tenant_id and n.alg = c.alg').where('n.status', 'next'))
    .distinct('c.alg');
  return rows.map((r: { alg: string }) => r.alg);
}

/**
 * Previous keys rotated out more than `overlapSeconds` ago can no longer verify a live token:
 * they leave JWKS (status retired). The database clock decides, as it stamped `rotated_at`.
 */
export async function updateRetiredKeys(db: Db, tenantId: string, overlapSeconds: number): Promise<string[]> {
  const rows = await db('signing_keys')
    .where({ tenant_id: tenantId, status: 'previous' })
    .andWhereRaw('rotated_at < now() - make_interval(secs => ?)', [overlapSeconds])
    .andWhereRaw('(keep_until is null or keep_until < now())')
    .update({ status: 'retired' })
    .returning('kid');
  return rows.map((r: { kid: string }) => r.kid);
}

/**
 * The tenant's lifetimes are about to shrink to a shorter overlap: what its keys signed until now
 * lives by the old one, `overlapSeconds`. Each key still published is kept at least that long
 * after it last signed (a current key: now; a previous one: when it was rotated out), whatever
 * the lifetimes say later; the longer of this and any earlier hold wins.
 */
export async function holdKeysForIssuedTokens(db: Db, tenantId: string, overlapSeconds: number) {
  await db('signing_keys').where({ tenant_id: tenantId }).whereIn('status', ['current', 'previous']).update({
    keep_until: db.raw(
      `greatest(coalesce(keep_until, '-infinity'::timestamptz), (case when status = 'current' then now() else rotated_at end) + make_interval(secs => ?))`,
      [overlapSeconds],
    ),
  });
}

/** Tenants with no current RS256 key: on ES256 or EdDSA since before RS256 companion keys. */
export async function findTenantsWithoutCurrentRs256(db: Db): Promise<string[]> {
  const rows = await db('tenants')
    .whereNotExists(db('signing_keys').whereRaw('signing_keys.tenant_id = tenants.id').where({ alg: 'RS256', status: 'current' }))
    .select('id');
  return rows.map((r: { id: string }) => r.id);
}

export async function hasCurrentKey(db: Db, tenantId: string, alg: string) {
  return Boolean(await db('signing_keys').where({ tenant_id: tenantId, alg, status: 'current' }).first(db.raw('1 as found')));
}

/** Restarts the retirement clock of previous keys of `alg`: they signed until a moment ago. */
export async function updatePreviousKeysRotatedNow(db: Db, tenantId: string, alg: string) {
  await db('signing_keys').where({ tenant_id: tenantId, alg, status: 'previous' }).update({ rotated_at: db.fn.now() });
}

/**
 * Tenants whose signing keys need the scheduler, in one query (cheap when none does):
 * `stage` when a current key has no next key of its algorithm published beside it; `rotate` when
 * key_rotation_days > 0 and no current key is younger than that; `retire` when a
 * previous key's overlap (keys.service.ts keyOverlapSeconds: the longest token or session lifetime
 * plus `skewSeconds`) has passed. Settings missing from an old row read as their defaults.
 * With `tenantId`, that tenant only (the re-check under the lock).
 */
export async function findTenantsWithKeyWork(db: Db, defaults: { days: number; accessTtl: number; idTtl: number; sessionTtl: number }, skewSeconds: number, tenantId?: string) {
  const result = await db.raw(
    `select id, stage, rotate, retire from (
       select t.id,
         exists (
           select 1 from signing_keys c where c.tenant_id = t.id and c.status = 'current'
             and not exists (select 1 from signing_keys n where n.tenant_id = t.id and n.status = 'next' and n.alg = c.alg)) as stage,
         s.days > 0 and not exists (
           select 1 from signing_keys k where k.tenant_id = t.id and k.status = 'current'
             and k.created_at > now() - make_interval(days => s.days)) as rotate,
         exists (
           select 1 from signing_keys k where k.tenant_id = t.id and k.status = 'previous'
             and k.rotated_at < now() - make_interval(secs => s.overlap)
             and (k.keep_until is null or k.keep_until < now())) as retire
       from tenants t,
         lateral (select coalesce((t.settings->>'key_rotation_days')::int, ?) as days,
                         greatest(coalesce((t.settings->>'access_token_ttl')::int, ?), coalesce((t.settings->>'id_token_ttl')::int, ?),
                                  coalesce((t.settings->>'session_ttl')::int, ?)) + ? as overlap) s
       ${tenantId ? 'where t.id = ?' : ''}
     ) due where stage or rotate or retire`,
    [defaults.days, defaults.accessTtl, defaults.idTtl, defaults.sessionTtl, skewSeconds, ...(tenantId ? [tenantId] : [])],
  );
  return result.rows.map((r: any) => ({ tenantId: r.id as string, stage: r.stage === true, rotate: r.rotate === true, retire: r.retire === true }));
}
