import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { listPublicKeys, rotateSigningKey } from '../../domain/keys/keys.service.js';
import { SIGNING_ALGS, type SigningKey } from '../../domain/keys/keys.types.js';
import { presentKey, presentRotation } from '../../domain/present.js';
import { requireAdmin } from '../access.js';

export const RotateKey = z.object({ alg: z.enum(SIGNING_ALGS as [string, ...string[]]).optional() }).strict();

export function keyRoutes(router: Router, deps: Deps) {
  const admin = requireAdmin(deps);

  router.post('/tenants/:slug/keys/rotate', admin, async (ctx) => {
    const { alg } = RotateKey.parse(ctx.request.body ?? {});
    const rotated = await rotateSigningKey(deps, ctx.state.tenant, alg as SigningKey['alg'] | undefined, ctx.state.actor);
    ctx.status = 201;
    ctx.body = presentRotation(await listPublicKeys(deps, ctx.state.tenant.id), rotated);
  });

  router.get('/tenants/:slug/keys', admin, async (ctx) => {
    ctx.body = { items: (await listPublicKeys(deps, ctx.state.tenant.id)).map(presentKey), next_cursor: null };
  });
}
