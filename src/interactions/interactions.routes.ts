import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { recordAuditNow } from '../audit/record.js';
import type { Deps } from '../deps.js';
import { findGrantedOnResource } from '../domain/rbac/rbac.queries.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { verifyPassword } from '../domain/users/users.service.js';
import { log } from '../log/logger.js';
import { Lockout } from '../security/lockout.js';
import { renderPage } from '../views/render.js';
import { checkCsrf, csrfToken } from './csrf.js';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

const GENERIC_LOGIN_ERROR = 'Email or password is incorrect.';
const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

/** Login and consent pages at `${issuer}/interaction/:uid` (DESIGN.md "Interaction pages"). */
export function interactionRoutes(deps: Deps) {
  const router = new Router({ prefix: '/t/:slug/interaction/:uid' });
  const lockout = new Lockout(deps.kv, deps.kvPrefix);
  const state = (ctx: Context) => ({ tenant: ctx.state.tenant as Tenant, provider: ctx.state.provider as Provider });
  const csrfKey = (tenant: Tenant) => deps.secrets.cookieKey(tenant.id);

  /**
   * The interaction of this browser (oidc-provider's signed interaction cookie). Forms that act
   * on it use provider.interactionDetails, which also checks that the session it started from
   * still exists with the same account; a page that only shows it (`checkSession: false`) skips
   * that read, since the form it shows is checked when posted.
   */
  async function details(ctx: Context, { checkSession = true } = {}) {
    const { provider } = state(ctx);
    try {
      const interaction = checkSession ? await provider.interactionDetails(ctx.req, ctx.res) : await interactionOfCookie(provider, ctx);
      if (interaction.uid !== ctx.params.uid) throw new Error('uid mismatch');
      return interaction;
    } catch {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = renderPage('error', { title: 'Sign-in expired', heading: 'This sign-in has expired', message: 'Go back to the application and start again.' });
      return undefined;
    }
  }

  function refuseForm(ctx: Context) {
    ctx.status = 403;
    ctx.type = 'html';
    ctx.body = renderPage('error', { title: 'Forbidden', message: 'The form expired. Go back and try again.' });
  }

  /**
   * Stores the interaction's result and sends the browser back to the authorization endpoint.
   * What provider.interactionResult does, on the interaction this request already loaded (it
   * would load it, and its session, a second time).
   */
  async function finish(ctx: Context, interaction: Interaction, result: Record<string, unknown>, mergeWithLastSubmission: boolean) {
    interaction.result = mergeWithLastSubmission && !('error' in result) ? { ...interaction.lastSubmission, ...result } : result;
    await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
    ctx.status = 303;
    ctx.redirect(interaction.returnTo);
  }

  function base(ctx: Context) {
    return `/t/${state(ctx).tenant.slug}/interaction/${ctx.params.uid}`;
  }

  async function renderLogin(ctx: Context, interaction: Awaited<ReturnType<Provider['interactionDetails']>>, extra: { error?: string; email?: string } = {}) {
    const { tenant, provider } = state(ctx);
    const client = await provider.Client.find(String(interaction.params.client_id));
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderPage('login', {
      title: 'Sign in',
      tenantName: tenant.name,
      clientName: client?.clientName ?? client?.clientId,
      action: `${base(ctx)}/login`,
      abort: `${base(ctx)}/abort`,
      csrf: csrfToken(csrfKey(tenant), interaction.uid),
      email: extra.email ?? (typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : ''),
      error: extra.error,
    });
  }

  router.get('/', async (ctx) => {
    const interaction = await details(ctx, { checkSession: false });
    if (!interaction) return;
    const { tenant, provider } = state(ctx);
    if (interaction.prompt.name === 'login') return renderLogin(ctx, interaction);
    const client = await provider.Client.find(String(interaction.params.client_id));
    const requested = String(interaction.params.scope ?? '').split(' ').filter(Boolean);
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderPage('consent', {
      title: 'Allow access',
      clientName: client?.clientName ?? client?.clientId,
      scopes: requested,
      action: `${base(ctx)}/confirm`,
      csrf: csrfToken(csrfKey(tenant), interaction.uid),
    });
  });

  router.post('/login', form, async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { tenant } = state(ctx);
    const body = (ctx.request as any).body ?? {};
    if (!checkCsrf(csrfKey(tenant), interaction.uid, body.csrf)) return refuseForm(ctx);
    const email = typeof body.email === 'string' ? body.email.slice(0, 320) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    const audit = { tenantId: tenant.id, ip: ctx.ip, userAgent: ctx.get('user-agent') };
    const result = await verifyPassword(deps, tenant, email, password);
    const lock = result.user ? await lockout.state(tenant.id, result.user.id) : undefined;
    const locked = lock?.locked ?? false;
    if (!result.ok || locked) {
      const reason = locked || result.ok ? 'locked' : result.reason;
      log().info('login.failed', { reason, user_id: result.user?.id });
      await recordAuditNow(deps.db, { ...audit, type: 'login.failed', actor: result.user ? `user:${result.user.id}` : null, subject: result.user?.id ?? null, outcome: 'failure', details: { reason, client_id: interaction.params.client_id } });
      if (result.user && !locked && !result.ok && result.reason === 'bad_password' && (await lockout.recordFailure(tenant.id, result.user.id, tenant.settings.lockout))) {
        await recordAuditNow(deps.db, { ...audit, type: 'account.locked', actor: 'system', subject: result.user.id, details: { duration_seconds: tenant.settings.lockout.duration_seconds } });
      }
      ctx.status = 401;
      return renderLogin(ctx, interaction, { error: GENERIC_LOGIN_ERROR, email });
    }
    // Nothing to clear unless failures were counted (most logins): no write to the store.
    if (lock?.failures) await lockout.clear(tenant.id, result.user.id);
    await recordAuditNow(deps.db, { ...audit, type: 'login.succeeded', actor: `user:${result.user.id}`, subject: result.user.id, details: { client_id: interaction.params.client_id, amr: ['pwd'] } });
    log().info('login.succeeded', { user_id: result.user.id });
    await finish(ctx, interaction, { login: { accountId: result.user.id, amr: ['pwd'] } }, false);
  });

  router.post('/confirm', form, async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { tenant, provider } = state(ctx);
    const body = (ctx.request as any).body ?? {};
    if (!checkCsrf(csrfKey(tenant), interaction.uid, body.csrf) || interaction.prompt.name !== 'consent' || !interaction.session?.accountId) return refuseForm(ctx);
    let result: Record<string, unknown>;
    if (body.decision !== 'allow') {
      result = { error: 'access_denied', error_description: 'End-User denied the request' };
    } else {
      const accountId = interaction.session.accountId;
      const clientId = String(interaction.params.client_id);
      const grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : new provider.Grant({ accountId, clientId });
      if (!grant) throw new Error('grant vanished');
      const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
      if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
      // RBAC: a resource gets only the requested permissions the user's roles grant.
      for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
        const allowed = new Set((await findGrantedOnResource(deps.db, tenant.id, indicator, { userId: accountId })).granted);
        grant.addResourceScope(indicator, scopes.filter((s) => allowed.has(s)).join(' '));
        // Recorded as rejected so the consent prompt does not ask for them again.
        const refused = scopes.filter((s) => !allowed.has(s));
        if (refused.length) grant.rejectResourceScope(indicator, refused.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    }
    await finish(ctx, interaction, result, true);
  });

  router.post('/abort', form, async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    if (!checkCsrf(csrfKey(state(ctx).tenant), interaction.uid, ((ctx.request as any).body ?? {}).csrf)) return refuseForm(ctx);
    await finish(ctx, interaction, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  });

  return router;
}

/** What provider.interactionDetails reads, without its session check (see details()). */
async function interactionOfCookie(provider: Provider, ctx: Context): Promise<Interaction> {
  // Koa's cookies on the provider (its cookie keys): the signature is checked, as oidc-provider does.
  const id = provider.createContext(ctx.req, ctx.res).cookies.get(provider.cookieName('interaction'), { signed: true });
  const interaction = id ? await provider.Interaction.find(id) : undefined;
  if (!interaction) throw new Error('interaction not found');
  return interaction;
}
