import Router from '@koa/router';
import type { Deps } from '../deps.js';

/** /healthz: the process answers. /readyz: Postgres and the kv store answer. */
export function opsRoutes(deps: Deps) {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [db, kv] = await Promise.all([
      deps.db.raw('select 1').then(() => true, () => false),
      deps.kv.ping().catch(() => false),
    ]);
    ctx.status = db && kv ? 200 : 503;
    ctx.body = { status: db && kv ? 'ready' : 'unavailable', checks: { postgres: db, kv } };
  });
  return router;
}
