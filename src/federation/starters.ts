import type { ConnectionKind, StartConnection } from './federation.types.js';
import { startOidc } from './oidc/start.js';

/**
 * How a login starts at each kind of connection: `${issuer}/${kind}/${name}/start` calls the
 * function registered here. Each protocol registers its own:
 *   oidc — oidc/start.ts
 *   saml — saml/ registers `saml: startSaml` here (SP-initiated AuthnRequest).
 */
export const starters: Partial<Record<ConnectionKind, StartConnection>> = {
  oidc: startOidc,
};
