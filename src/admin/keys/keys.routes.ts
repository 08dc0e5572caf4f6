import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { listPublicKeys, rotateSigningKey } from '../../domain/keys/keys.service.js';
import { SIGNING_ALGS, type SigningKey } from '../../domain/keys/keys.types.js';
import { KeyAnswer, KeyRotationAnswer, presentKey, presentRotation } from '../../domain/present.js';
import { requireAdmin } from '../access.js';
import { operations } from '../operations.js';

export const RotateKey = z.object({ alg: z.enum(SIGNING_ALGS as [string, ...string[]]).optional() }).strict();

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const keyOperations = operations('Keys', [
  {
    method: 'post', path: '/tenants/{slug}/keys/rotate', operationId: 'rotateSigningKey', summary: 'Rotate the signing key',
    description: 'The new key signs from now on; the previous ones stay in JWKS until their tokens expire. On ES256 or EdDSA also a new RS256 key for ID Tokens, in `rs256_key`.',
    body: RotateKey, bodyRequired: false, status: 201, response: KeyRotationAnswer, requestExample: { alg: 'ES256' },
  },
  { method: 'get', path: '/tenants/{slug}/keys', operationId: 'listSigningKeys', summary: 'List public signing keys (one page: next_cursor is null)', list: true, onePage: true, response: KeyAnswer },
]);

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
