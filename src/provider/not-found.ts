import type Provider from 'oidc-provider';

/**
 * A path under an issuer that none of oidc-provider's routes serves (Koa's bare "Not Found"
 * otherwise): answered like every protocol error, `{error, error_description}` (RFC 6749 §5.2 style).
 */
export function answerUnknownRoutes(provider: Provider) {
  // Not async (client-auth-limit.ts says why).
  provider.use((ctx, next) => next().then(() => {
    if (ctx.status === 404 && ctx.body == null) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'There is nothing at this address.' };
    }
  }));
}
