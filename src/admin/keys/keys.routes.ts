import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { listPublicKeys, rotateSigningKey } from '../../domain/keys/keys.service.js';
import { SIGNING_ALGS, type SigningKey } from '../../domain/keys/keys.types.js';
import { requireAdmin } from '../access.js';

export const RotateKey = z.object({ alg: z.enum(SIGNING_ALGS as [string, ...string[]]).optional() }).strict();

/** Public parts only: the private JWK never leaves keys.service. */
export const presentKey = (k: SigningKey) => ({
  kid: k.kid, alg: k.alg, status: k.status, public_jwk: k.publicJwk, created_at: k.createdAt.toISOString(), rotated_at: k.rotatedAt?.toISOString() ?? null,
});

export function keyRoutes(router: Router, deps: Deps) {
  const admin = requireAdmin(deps);

  router.post('/tenants/:slug/keys/rotate', admin, async (ctx) => {
    const { alg } = RotateKey.parse(ctx.request.body ?? {});
    const { kid, rs256Kid } = await rotateSigningKey(deps, ctx.state.tenant, alg as SigningKey['alg'] | undefined, ctx.state.actor);
    const keys = await listPublicKeys(deps, ctx.state.tenant.id);
    const companion = keys.find((k) => k.kid === rs256Kid);
    ctx.status = 201;
    // The new key; on ES256 or EdDSA also the RS256 key made with it for ID Tokens.
    ctx.body = { ...presentKey(keys.find((k) => k.kid === kid)!), ...(companion ? { rs256_key: presentKey(companion) } : {}) };
  });

  router.get('/tenants/:slug/keys', admin, async (ctx) => {
    ctx.body = { items: (await listPublicKeys(deps, ctx.state.tenant.id)).map(presentKey), next_cursor: null };
  });
}
