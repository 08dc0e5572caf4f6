import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { recordAudit } from '../../audit/record.js';
import type { Db, Trx } from '../../db/knex.js';
import type { Config } from '../../config/load.js';
import type { Actor, Deps } from '../../deps.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { signingKeyAad } from '../../security/sealed-columns.js';
import { announceChange } from '../changes.js';
import { lockTenant, touchTenant } from '../tenants/tenants.queries.js';
import { assertSealingKeyCurrent } from './master-key-check.js';
import {
  findAlgsWithoutNextKey, findSigningKeys, findTenantsWithoutCurrentRs256, hasCurrentKey, insertSigningKey, promoteNextKey,
  updateCurrentKeysToPrevious, updateNextKeysRetired, updatePreviousKeysRotatedNow, updateRetiredKeys,
} from './keys.queries.js';
import type { SigningAlg, SigningKey } from './keys.types.js';

export { signingKeyAad };
const aad = signingKeyAad;

/**
 * Makes a key of `alg` current; the old current keys stay published as `previous`.
 *
 * The key that starts signing is the tenant's next key of that algorithm, published in JWKS
 * since the last rotation (or since the scheduler staged it), so a client that fetched JWKS
 * since then already holds it: a client that cached JWKS a moment before the rotation would
 * otherwise meet an unknown `kid` and may not fetch JWKS again for a while (jose waits 30 s).
 * A new next key is published in its place. Only a tenant without a next key of that algorithm
 * (a new tenant, a change of algorithm) signs with a key made on the spot.
 *
 * OpenID Connect requires RS256: every OP must sign ID Tokens with it (Core §15.1), discovery must
 * list it, and it is the ID Token algorithm of every client that registers none (Dynamic Client
 * Registration §2). So a tenant on ES256 or EdDSA also gets an RS256 key with each rotation,
 * current beside its own key and rotated with it; its own key stays the first, the one access
 * tokens are signed with.
 */
export async function createSigningKey(deps: Pick<Deps, 'secrets'>, trx: Trx | Db, tenantId: string, alg: SigningAlg) {
  await updateCurrentKeysToPrevious(trx as Db, tenantId);
  const algs: SigningAlg[] = alg !== 'RS256' ? ['RS256', alg] : [alg];
  const made: Record<string, string> = {};
  const missing: SigningAlg[] = [];
  for (const a of algs) {
    const promoted = await promoteNextKey(trx as Db, tenantId, a);
    if (promoted) made[a] = promoted;
    else missing.push(a);
  }
  // Next keys of an algorithm the tenant left never signed (key_ops verify): they leave JWKS at once.
  const discarded = await updateNextKeysRetired(trx as Db, tenantId);
  // Every key this needs at once, on both cores: the tenant row stays locked meanwhile.
  const fresh = await Promise.all([...missing, ...algs].map((a) => makeKey(deps, tenantId, a)));
  await assertSealingKeyCurrent(trx, deps.secrets); // algs is never empty: there is always a next key to store
  for (const [i, key] of fresh.entries()) {
    const status = i < missing.length ? 'current' : 'next';
    await insertSigningKey(trx as Db, { tenantId, kid: key.kid, alg: key.alg, status, publicJwk: key.publicJwk }, key.sealed);
    if (status === 'current') made[key.alg] = key.kid;
  }
  return { kid: made[alg], alg, rs256Kid: alg !== 'RS256' ? made.RS256 : undefined, nextKids: fresh.slice(missing.length).map((k) => k.kid), discarded };
}

/** A new key pair, its private half sealed under the master key, bound to its tenant and kid. */
async function makeKey(deps: Pick<Deps, 'secrets'>, tenantId: string, alg: SigningAlg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const kid = randomBytes(12).toString('base64url');
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { kid, alg, publicJwk, sealed: deps.secrets.encrypt(JSON.stringify(privateJwk), aad(tenantId, kid)) };
}

async function insertNewKey(deps: Pick<Deps, 'secrets'>, trx: Trx | Db, tenantId: string, alg: SigningAlg, status: 'current' | 'next') {
  const key = await makeKey(deps, tenantId, alg);
  await assertSealingKeyCurrent(trx, deps.secrets);
  await insertSigningKey(trx as Db, { tenantId, kid: key.kid, alg, status, publicJwk: key.publicJwk }, key.sealed);
  return { kid: key.kid, alg };
}

export async function rotateSigningKey(deps: Pick<Deps, 'db' | 'secrets' | 'config'>, tenant: Tenant, alg: SigningAlg | undefined, actor: Actor) {
  return deps.db.transaction((trx) => rotateSigningKeyIn(deps, trx, tenant, alg, actor));
}

/**
 * How long a previous key stays in JWKS after it stopped signing: the longest lifetime of what it
 * signed (ID Tokens, those issued on a refresh included, and JWT access tokens), plus a margin for
 * clocks. The session lifetime counts too: an app sends the ID Token of its login back as
 * `id_token_hint` at logout (OpenID RP-Initiated Logout §2), where its signature is checked but
 * not its expiry, for as long as the session may last. Refresh tokens are opaque (stored, never
 * signed), so their own lifetime does not count.
 */
export function keyOverlapSeconds(tenant: Tenant, config?: Pick<Config, 'keySchedule'>) {
  const { access_token_ttl, id_token_ttl, session_ttl } = tenant.settings;
  return Math.max(access_token_ttl, id_token_ttl, session_ttl) + (config?.keySchedule?.skewSeconds ?? KEY_SKEW_SECONDS);
}

/** The clock margin of keyOverlapSeconds. */
export const KEY_SKEW_SECONDS = 60;

/**
 * rotateSigningKey inside a transaction the caller holds (the scheduler's, with its lock). The
 * tenant row is locked first, so rotations of one tenant (an admin's, the CLI's, the scheduler's,
 * the RS256 check at start) run one after the other: run together, each demoted the current key
 * and each inserted its own, and the tenant was left with two current keys.
 */
export async function rotateSigningKeyIn(deps: Pick<Deps, 'secrets' | 'config'>, trx: Trx, tenant: Tenant, alg: SigningAlg | undefined, actor: Actor) {
  await lockTenant(trx, tenant.id); // a tenant deleted meanwhile fails below as before (its keys' foreign key)
  const existing = await findSigningKeys(trx, tenant.id);
  const chosen = alg ?? existing.find(({ key }) => key.status === 'current')?.key.alg ?? 'RS256'; // the first current is the tenant's own (createSigningKey)
  const { kid, rs256Kid, nextKids, discarded } = await createSigningKey(deps, trx, tenant.id, chosen);
  // A previous key is published until every token it signed has expired.
  const retired = await updateRetiredKeys(trx, tenant.id, keyOverlapSeconds(tenant, deps.config));
  // Nodes following the change feed rebuild the provider on the announcement; a node without
  // a live feed compares the tenant row's updated_at (tenancy/registry.ts).
  await touchTenant(trx, tenant.id);
  await announceChange(trx, tenant.id, 'keys');
  const who = { actor: actor.id, ip: actor.ip, userAgent: actor.userAgent };
  await recordAudit(trx, { tenantId: tenant.id, type: 'key.rotated', ...who, subject: `key:${kid}`, details: { alg: chosen, ...(rs256Kid ? { rs256_kid: rs256Kid } : {}), next_kids: nextKids } });
  const gone = [...retired, ...discarded];
  if (gone.length) await recordAudit(trx, { tenantId: tenant.id, type: 'key.retired', ...who, subject: `key:${gone[0]}`, details: { kids: gone } });
  return { kid, alg: chosen, rs256Kid };
}

/**
 * Publishes a next key beside each current key that has none (a tenant made before next keys
 * existed, or an RS256 key added at start), audited; false when every current key had one.
 */
export async function stageNextKeysIn(deps: Pick<Deps, 'secrets'>, trx: Trx, tenant: Tenant, actor: Actor) {
  const algs = await findAlgsWithoutNextKey(trx, tenant.id);
  if (!algs.length) return false;
  const kids: string[] = [];
  for (const alg of algs) kids.push((await insertNewKey(deps, trx, tenant.id, alg as SigningAlg, 'next')).kid);
  await touchTenant(trx, tenant.id);
  await announceChange(trx, tenant.id, 'keys');
  await recordAudit(trx, { tenantId: tenant.id, type: 'key.created', actor: actor.id, subject: `key:${kids[0]}`, details: { kids, status: 'next' } });
  return true;
}

/** Takes previous keys whose overlap has passed out of JWKS, audited; false when there were none. */
export async function retireSigningKeysIn(deps: Pick<Deps, 'config'>, trx: Trx, tenant: Tenant, actor: Actor) {
  const kids = await updateRetiredKeys(trx, tenant.id, keyOverlapSeconds(tenant, deps.config));
  if (!kids.length) return false;
  await touchTenant(trx, tenant.id);
  await announceChange(trx, tenant.id, 'keys');
  await recordAudit(trx, { tenantId: tenant.id, type: 'key.retired', actor: actor.id, subject: `key:${kids[0]}`, details: { kids } });
  return true;
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
      const { kid } = await insertNewKey(deps, trx, tenantId, 'RS256', 'current');
      await touchTenant(trx, tenantId);
      await announceChange(trx, tenantId, 'keys');
      await recordAudit(trx, { tenantId, type: 'key.created', actor: actor.id, subject: `key:${kid}`, details: { alg: 'RS256', reason: 'rs256_required' } });
    });
  }
}

/**
 * Private JWKs for the provider, current first (they sign), then next and previous (published).
 * A next key is marked `key_ops: ['verify']`: the provider never signs with it, even where the
 * tenant has no current key of its algorithm (an older node's rotation during an upgrade).
 */
export async function loadSigningJwks(deps: Pick<Deps, 'db' | 'secrets'>, tenantId: string) {
  const keys = await findSigningKeys(deps.db, tenantId);
  return keys.map(({ key, sealed }) => {
    const jwk = JSON.parse(deps.secrets.decrypt(sealed, aad(tenantId, key.kid))) as Record<string, unknown>;
    return key.status === 'next' ? { ...jwk, key_ops: ['verify'] } : jwk;
  });
}

export async function listPublicKeys(deps: Pick<Deps, 'db'>, tenantId: string): Promise<SigningKey[]> {
  return (await findSigningKeys(deps.db, tenantId)).map(({ key }) => key);
}
