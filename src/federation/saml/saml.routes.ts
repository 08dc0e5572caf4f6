import Router from '@koa/router';
import type { Deps } from '../../deps.js';
import { receiveSamlResponse, type OnVerified } from './acs.js';
import { serveSpMetadata } from './metadata.js';

/**
 * The SAML SP endpoints under an issuer (DESIGN.md "SAML federation"): metadata and ACS per
 * connection. The start (`/saml/:name/start`) is federation.routes.ts's, which calls startSaml.
 */
export function samlRoutes(deps: Deps, onVerified: OnVerified) {
  const router = new Router({ prefix: '/t/:slug/saml/:name' });
  router.get('/metadata', (ctx) => serveSpMetadata(ctx, deps));
  router.post('/acs', (ctx) => receiveSamlResponse(ctx, deps, onVerified));
  return router;
}
