import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { recordAudit } from '../../audit/record.js';
import type { Db, Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { announceChange } from '../changes.js';
import { touchTenant } from '../tenants/tenants.queries.js';
import {
  findSigningKeys, findTenantsWithoutCurrentRs256, hasCurrentKey, insertSigningKey, lockTenant, updateCurrentKeysToPrevious,
  updatePreviousKeysRotatedNow, updateRetiredKeys,
} from './keys.queries.js';
import type { SigningAlg, SigningKey } from './keys.types.js';

export const signingKeyAad = (tenantId: string, kid: string) => `signing-key:${tenantId}:${kid}`;
const aad = signingKeyAad;

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
  const companion = alg !== 'RS256' ? await insertNewKey(deps, trx, tenantId, 'RS256') : undefined;
  return { ...(await insertNewKey(deps, trx, tenantId, alg)), rs256Kid: companion?.kid };
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
    const { kid, rs256Kid } = await createSigningKey(deps, trx, tenant.id, chosen);
    // A previous key is published until every token it signed has expired.
    const longest = Math.max(tenant.settings.access_token_ttl, tenant.settings.id_token_ttl);
    await updateRetiredKeys(trx, tenant.id, new Date(Date.now() - longest * 1000 - 60_000));
    // Nodes following the change feed rebuild the provider on the announcement; a node without
    // a live feed compares the tenant row's updated_at (tenancy/registry.ts).
    await touchTenant(trx, tenant.id);
    await announceChange(trx, tenant.id, 'keys');
    await recordAudit(trx, { tenantId: tenant.id, type: 'key.rotated', actor: actor.id, subject: `key:${kid}`, ip: actor.ip, userAgent: actor.userAgent, details: { alg: chosen, ...(rs256Kid ? { rs256_kid: rs256Kid } : {}) } });
    return { kid, alg: chosen, rs256Kid };
  });
}

/**
 * Gives every tenant a current RS256 key, as createSigningKey does at each rotation: tenants that
 * moved to ES256 or EdDSA before that have none. Runs at start; safe on several nodes at once.
 */
export async function ensureRs256Keys(deps: Pick<Deps, 'db' | 'secrets'>, actor: Actor) {
  for (const tenantId of await findTenantsWithoutCurrentRs256(deps.db)) {
    await deps.db.transaction(async (trx) => {
      if (!(await lockTenant(trx, tenantId)) || (await hasCurrentKey(trx, tenantId, 'RS256'))) return;
      // The old RS256 keys signed ID Tokens until now: they stay published a full token lifetime.
      await updatePreviousKeysRotatedNow(trx, tenantId, 'RS256');
      const { kid } = await insertNewKey(deps, trx, tenantId, 'RS256');
      await touchTenant(trx, tenantId);
      await announceChange(trx, tenantId, 'keys');
      await recordAudit(trx, { tenantId, type: 'key.created', actor: actor.id, subject: `key:${kid}`, details: { alg: 'RS256', reason: 'rs256_required' } });
    });
  }
}

/** Private JWKs for the provider, current first. */
export async function loadSigningJwks(deps: Pick<Deps, 'db' | 'secrets'>, tenantId: string) {
  const keys = await findSigningKeys(deps.db, tenantId);
  return keys.map(({ key, sealed }) => JSON.parse(deps.secrets.decrypt(sealed, aad(tenantId, key.kid))) as Record<string, unknown>);
}

export async function listPublicKeys(deps: Pick<Deps, 'db'>, tenantId: string): Promise<SigningKey[]> {
  return (await findSigningKeys(deps.db, tenantId)).map(({ key }) => key);
}
