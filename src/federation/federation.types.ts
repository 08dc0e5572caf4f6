import type { Tenant } from '../domain/tenants/tenants.types.js';

export type ConnectionKind = 'saml' | 'oidc';
export const CONNECTION_KINDS: readonly ConnectionKind[] = ['saml', 'oidc'];

/** A connection as the login page shows it (buttons, home-realm discovery). */
export interface ConnectionSummary {
  kind: ConnectionKind;
  name: string;
  displayName: string;
  emailDomains: string[];
}

/** What the shared login completion needs to know of a connection, whatever its protocol. */
export interface FederationConnection {
  tenantId: string;
  kind: ConnectionKind;
  name: string;
  /** Link an existing local account by email (only with an upstream `email_verified: true`). */
  trustEmail?: boolean;
  /** The upstream's MFA counts as Gatehouse MFA (amr gets 'mfa'). */
  upstreamMfaCounts: boolean;
  /** Upstream group value → tenant role names. */
  groupRoleMapping: Record<string, string[]>;
}

/** An identity the protocol handler has already verified (signature, audience, nonce...). */
export interface FederatedIdentity {
  /** SAML NameID or OIDC `sub`: the link key with the connection. */
  subject: string;
  email?: string;
  emailVerified?: boolean;
  name?: string;
  givenName?: string;
  familyName?: string;
  groups?: string[];
  /** The upstream says the user passed a second factor. */
  upstreamMfa?: boolean;
}

/**
 * Starts a login at one connection: answers the redirect to the upstream. `interactionUid` is the
 * login it belongs to (checked to exist in this tenant); `loginHint` the email typed, if any;
 * `reauthenticate` asks the upstream not to reuse its session (OIDC prompt=login, SAML ForceAuthn).
 */
export type StartConnection = (
  ctx: import('koa').Context,
  deps: import('../deps.js').Deps,
  tenant: Tenant,
  request: {
    name: string;
    interactionUid: string;
    loginHint?: string;
    /** The application asked for a fresh login (prompt=login, max_age): ask the upstream for one too. */
    reauthenticate?: boolean;
  },
) => Promise<void>;
