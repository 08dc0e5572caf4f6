import type { ConnectionKind, StartConnection } from './federation.types.js';
import { startOidc } from './oidc/start.js';
import { finishSamlLogin } from './saml/hand-off.js';
import { startSaml } from './saml/start.js';

/**
 * How a login starts at each kind of connection: `${issuer}/${kind}/${name}/start` calls the
 * function registered here. Each protocol registers its own:
 *   oidc — oidc/start.ts
 *   saml — saml/start.ts (SP-initiated AuthnRequest over HTTP-Redirect).
 */
export const starters: Partial<Record<ConnectionKind, StartConnection>> = {
  oidc: startOidc,
  saml: startSaml(finishSamlLogin),
};
