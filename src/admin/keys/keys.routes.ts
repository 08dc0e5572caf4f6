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
    const { kid } = await rotateSigningKey(deps, ctx.state.tenant, alg as SigningKey['alg'] | undefined, ctx.state.actor);
    const key = (await listPublicKeys(deps, ctx.state.tenant.id)).find((k) => k.kid === kid)!;
    ctx.status = 201;
    ctx.body = presentKey(key);
  });

  router.get('/tenants/:slug/keys', admin, async (ctx) => {
    ctx.body = { items: (await listPublicKeys(deps, ctx.state.tenant.id)).map(presentKey), next_cursor: null };
  });
}
