import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { text } from '../views/text/index.js';
import { renderPage } from '../views/render.js';
import { CONNECTION_KINDS, type ConnectionKind } from './federation.types.js';
import { oidcCallback } from './oidc/callback.js';
import { refuseFederatedLogin } from './finish.js';
import { starters } from './starters.js';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const UID = /^[A-Za-z0-9_-]{1,64}$/;

function expired(ctx: Context) {
  ctx.status = 400;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderPage('error', { title: text.federation.expiredTitle, heading: text.federation.expiredHeading, message: text.federation.expired });
}

/**
 * The federation endpoints under an issuer (mounted by tenancy/mount.ts for this tenant only):
 * `${issuer}/${kind}/${name}/start?interaction=${uid}` for every kind, and each protocol's own
 * (OIDC: `${issuer}/oidc/${name}/callback`; SAML adds metadata and ACS).
 */
export function federationRoutes(deps: Deps) {
  const router = new Router({ prefix: '/t/:slug' });

  for (const kind of CONNECTION_KINDS) {
    router.get(`/${kind}/:name/start`, async (ctx) => {
      const tenant = ctx.state.tenant as Tenant;
      const provider = ctx.state.provider as Provider;
      const uid = typeof ctx.query.interaction === 'string' ? ctx.query.interaction : '';
      // The login this belongs to must exist in this tenant; the interaction page checks later
      // that the browser coming back is the one holding it.
      const interaction = UID.test(uid) ? await provider.Interaction.find(uid) : undefined;
      if (!interaction) return expired(ctx);
      const start = starters[kind as ConnectionKind];
      if (!start || !NAME.test(ctx.params.name)) return refuseFederatedLogin(ctx, deps, tenant, { connection: `${kind}/${ctx.params.name.slice(0, 64)}`, reason: 'unknown_connection', status: 404 });
      const hint = typeof ctx.query.login_hint === 'string' && ctx.query.login_hint.length <= 320 ? ctx.query.login_hint : undefined;
      const prompts = String(interaction.params.prompt ?? '').split(' ');
      const reauthenticate = prompts.includes('login') || interaction.params.max_age !== undefined;
      await start(ctx, deps, tenant, { name: ctx.params.name, interactionUid: uid, loginHint: hint, reauthenticate });
    });
  }

  router.get('/oidc/:name/callback', async (ctx) => {
    if (!NAME.test(ctx.params.name)) return refuseFederatedLogin(ctx, deps, ctx.state.tenant, { connection: 'oidc/?', reason: 'unknown_connection', status: 404 });
    await oidcCallback(ctx, deps);
  });

  return router;
}
