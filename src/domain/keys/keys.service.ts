import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { recordAudit } from '../../audit/record.js';
import type { Db, Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { announceChange } from '../changes.js';
import { touchTenant } from '../tenants/tenants.queries.js';
import { findSigningKeys, insertSigningKey, updateCurrentKeysToPrevious, updateRetiredKeys } from './keys.queries.js';
import type { SigningAlg, SigningKey } from './keys.types.js';

const aad = (tenantId: string, kid: string) => `signing-key:${tenantId}:${kid}`;

/**
 * Makes a new current key of `alg`; the old current keys stay published as `previous`.
 *
 * OpenID Connect requires RS256: every OP must sign ID Tokens with it (Core §15.1), discovery must
 * list it, and it is the ID Token algorithm of every client that registers none (Dynamic Client
 * Registration §2). So a tenant on ES256 or EdDSA also gets a new RS256 key with each rotation,
 * current beside its own key and rotated with it; its own key stays the first, the one access
 * tokens are signed with.
 */
export async function createSigningKey(deps: Pick<Deps, 'secrets'>, trx: Trx | Db, tenantId: string, alg: SigningAlg) {
  await updateCurrentKeysToPrevious(trx as Db, tenantId);
  if (alg !== 'RS256') await insertNewKey(deps, trx, tenantId, 'RS256');
  return insertNewKey(deps, trx, tenantId, alg);
}

async function insertNewKey(deps: Pick<Deps, 'secrets'>, trx: Trx | Db, tenantId: string, alg: SigningAlg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const kid = randomBytes(12).toString('base64url');
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  await insertSigningKey(trx as Db, { tenantId, kid, alg, status: 'current', publicJwk }, deps.secrets.encrypt(JSON.stringify(privateJwk), aad(tenantId, kid)));
  return { kid, alg };
}

export async function rotateSigningKey(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, alg: SigningAlg | undefined, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    const existing = await findSigningKeys(trx, tenant.id);
    const chosen = alg ?? existing[0]?.key.alg ?? 'RS256'; // the first is the tenant's own (createSigningKey)
    const { kid } = await createSigningKey(deps, trx, tenant.id, chosen);
    // A previous key is published until every token it signed has expired.
    const longest = Math.max(tenant.settings.access_token_ttl, tenant.settings.id_token_ttl);
    await updateRetiredKeys(trx, tenant.id, new Date(Date.now() - longest * 1000 - 60_000));
    // Nodes following the change feed rebuild the provider on the announcement; a node without
    // a live feed compares the tenant row's updated_at (tenancy/registry.ts).
    await touchTenant(trx, tenant.id);
    await announceChange(trx, tenant.id, 'keys');
    await recordAudit(trx, { tenantId: tenant.id, type: 'key.rotated', actor: actor.id, subject: kid, ip: actor.ip, userAgent: actor.userAgent, details: { alg: chosen } });
    return { kid, alg: chosen };
  });
}

/** Private JWKs for the provider, current first. */
export async function loadSigningJwks(deps: Pick<Deps, 'db' | 'secrets'>, tenantId: string) {
  const keys = await findSigningKeys(deps.db, tenantId);
  return keys.map(({ key, sealed }) => JSON.parse(deps.secrets.decrypt(sealed, aad(tenantId, key.kid))) as Record<string, unknown>);
}

export async function listPublicKeys(deps: Pick<Deps, 'db'>, tenantId: string): Promise<SigningKey[]> {
  return (await findSigningKeys(deps.db, tenantId)).map(({ key }) => key);
}
