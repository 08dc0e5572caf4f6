import Router from '@koa/router';
import type { Middleware } from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Deps } from '../deps.js';
import type { TenantRegistry } from '../tenancy/registry.js';
import { auditRoutes } from './audit/audit-events.routes.js';
import { clientRoutes } from './clients/clients.routes.js';
import { keyRoutes } from './keys/keys.routes.js';
import { DOCUMENT_PATH, openApiDocument } from './openapi.js';
import { Problem, problems } from './problem.js';
import { refuseNulText } from './text-guard.js';
import { oidcConnectionRoutes } from './oidc-connections/oidc-connections.routes.js';
import { samlConnectionBodyParser, samlConnectionRoutes } from './saml-connections/saml-connections.routes.js';
import { tenantRoutes } from './tenants/tenants.routes.js';
import { userRoutes } from './users/users.routes.js';
import { groupRoutes } from './groups/groups.routes.js';
import { resourceRoutes } from './rbac/resources.routes.js';
import { roleRoutes } from './rbac/roles.routes.js';
import { userSecurityRoutes } from './users/user-security.routes.js';

export const ADMIN_PREFIX = '/admin/v1';

/** `${PUBLIC_URL}/admin/v1` (DESIGN.md "Admin API"). */
export function adminRoutes(deps: Deps, registry: TenantRegistry) {
  const router = new Router({ prefix: ADMIN_PREFIX });
  // Middleware first: @koa/router composes `use` layers in the order they were added.
  router.use(problems());
  router.use(samlConnectionBodyParser()); // IdP metadata outgrows 64 kB: see there
  router.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
  router.use(refuseNulText());
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  let document: ReturnType<typeof openApiDocument> | undefined; // built once, at the first request
  router.get(DOCUMENT_PATH, (ctx) => {
    document ??= openApiDocument(deps.config.publicUrl);
    ctx.body = document;
  });
  tenantRoutes(router, deps);
  clientRoutes(router, deps, registry);
  userRoutes(router, deps, registry);
  userSecurityRoutes(router, deps, registry);
  resourceRoutes(router, deps);
  roleRoutes(router, deps);
  groupRoutes(router, deps);
  keyRoutes(router, deps);
  auditRoutes(router, deps);
  samlConnectionRoutes(router, deps);
  oidcConnectionRoutes(router, deps);
  return router;
}

/**
 * The admin API with its answers for what no route serves: an unknown path is a 404 and a known
 * path with another method a 405 (with Allow), both problem+json like every admin error.
 */
export function adminApi(deps: Deps, registry: TenantRegistry): Middleware {
  const router = adminRoutes(deps, registry);
  const routes = router.routes();
  const allowed = router.allowedMethods();
  const guard = problems();
  const unserved: Record<number, () => Problem> = {
    404: () => new Problem(404, 'not_found', 'The admin API has no such route.'),
    405: () => new Problem(405, 'method_not_allowed', 'This route does not take this method.'),
    501: () => new Problem(501, 'not_implemented', 'This method is not implemented.'),
  };
  return (ctx, next) => {
    if (ctx.path !== ADMIN_PREFIX && !ctx.path.startsWith(`${ADMIN_PREFIX}/`)) return next();
    return guard(ctx, async () => {
      await allowed(ctx as never, () => routes(ctx as never, async () => {}));
      if (ctx.body === undefined && unserved[ctx.status]) throw unserved[ctx.status]();
    });
  };
}
