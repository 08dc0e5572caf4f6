import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { isStorageUnavailable, type Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import type { TenantCache } from '../provider/tenant-cache.js';
import { renderPage, type PageData } from '../views/render.js';
import { checkCsrf, csrfToken } from './csrf.js';
import { text } from '../views/text/index.js';

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The steps after the password, kept on the interaction itself until the login completes. */
export type Step = 'second_factor' | 'enroll' | 'recovery_codes' | 'verify_email';
export interface Pending {
  accountId: string;
  /** RFC 8176 methods proven so far in this login. */
  amr: string[];
  step: Step;
  /** Recovery codes left after one was used (shown on the recovery_codes step). */
  remaining?: number;
  /** The seed being enrolled, sealed with the master key (enroll step). */
  totpSeal?: string;
}

/** What every step handler works with: one interaction of one browser, in one tenant. */
export interface StepContext {
  ctx: Context;
  deps: Deps;
  tenant: Tenant;
  provider: Provider;
  /** What this node keeps of the tenant (provider/tenant-cache.ts). */
  cache: TenantCache | undefined;
  interaction: Interaction;
  /** `/t/:slug/interaction/:uid`, the prefix of every form action. */
  base: string;
  csrf: string;
  audit: { tenantId: string; ip: string; userAgent: string | null };
  pending: Pending | undefined;
  render(view: string, data: PageData, status?: number): void;
  savePending(pending: Pending): Promise<void>;
  /** Stores the interaction's result and sends the browser back to the authorization endpoint. */
  finish(result: Record<string, unknown>, mergeWithLastSubmission?: boolean): Promise<void>;
}

export const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

export const field = (ctx: Context, name: string, max: number) => {
  const value = ((ctx.request as { body?: Record<string, unknown> }).body ?? {})[name];
  return typeof value === 'string' ? value.slice(0, max) : '';
};

function renderError(ctx: Context, status: number, data: PageData) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderPage('error', data);
}

/**
 * Loads this browser's interaction (oidc-provider's signed interaction cookie) and, for a form,
 * checks its CSRF token; answers an error page itself and returns undefined when either fails.
 * Forms go through provider.interactionDetails, which also checks that the session the
 * interaction started from still exists; showing a page skips that read.
 */
export async function stepContext(deps: Deps, ctx: Context, { post }: { post: boolean }): Promise<StepContext | undefined> {
  const tenant = ctx.state.tenant as Tenant;
  const provider = ctx.state.provider as Provider;
  let interaction: Interaction;
  try {
    interaction = post ? await provider.interactionDetails(ctx.req, ctx.res) : await interactionOfCookie(provider, ctx);
    if (interaction.uid !== ctx.params.uid) throw new Error('uid mismatch');
  } catch (err) {
    // Storage that cannot answer says nothing about the sign-in: a 503 and its retry page
    // (ops/unavailable.ts), and the same form works once it is back.
    if (isStorageUnavailable(err)) throw err;
    renderError(ctx, 400, { title: text.error.expiredTitle, heading: text.error.expiredHeading, message: text.error.expired });
    return undefined;
  }
  const key = deps.secrets.cookieKey(tenant.id);
  if (post && !checkCsrf(key, interaction.uid, field(ctx, 'csrf', 200))) {
    renderError(ctx, 403, { title: text.common.forbidden, message: text.common.formExpired });
    return undefined;
  }
  const result = interaction.result as { gatehouse?: Pending } | undefined;
  const sc: StepContext = {
    ctx, deps, tenant, provider, interaction,
    cache: ctx.state.tenantCache as TenantCache | undefined,
    base: `/t/${tenant.slug}/interaction/${interaction.uid}`,
    csrf: csrfToken(key, interaction.uid),
    audit: { tenantId: tenant.id, ip: ctx.ip, userAgent: ctx.get('user-agent') || null },
    pending: result?.gatehouse,
    render(view, data, status = 200) {
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = renderPage(view, { csrf: sc.csrf, tenantName: tenant.name, ...data });
    },
    async savePending(pending) {
      sc.pending = pending;
      interaction.result = { gatehouse: pending };
      await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
    },
    async finish(outcome, mergeWithLastSubmission = false) {
      // What provider.interactionResult does, on the interaction this request already loaded.
      interaction.result = mergeWithLastSubmission && !('error' in outcome) ? { ...interaction.lastSubmission, ...outcome } : outcome;
      await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
      ctx.status = 303;
      ctx.redirect(interaction.returnTo);
    },
  };
  return sc;
}

/** What provider.interactionDetails reads, without its session check (see stepContext()). */
async function interactionOfCookie(provider: Provider, ctx: Context): Promise<Interaction> {
  // Koa's cookies on the provider (its cookie keys): the signature is checked, as oidc-provider does.
  const id = provider.createContext(ctx.req, ctx.res).cookies.get(provider.cookieName('interaction'), { signed: true });
  const interaction = id ? await provider.Interaction.find(id) : undefined;
  if (!interaction) throw new Error('interaction not found');
  return interaction;
}

export async function clientNameOf(sc: StepContext) {
  const client = await sc.provider.Client.find(String(sc.interaction.params.client_id));
  return client?.clientName ?? client?.clientId;
}
