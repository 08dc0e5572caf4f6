import type { Tenant } from '../tenants/tenants.types.js';

/** A user's sign-in session at a tenant, as oidc-provider stored it (model Session). */
export interface UserSession {
  /** The session's uid: never its id, which is the value of the session cookie. */
  id: string;
  userId: string;
  createdAt: Date;
  lastUsedAt: Date;
  ip: string | null;
  userAgent: string | null;
  clientIds: string[];
  /** Grants the session authorised, one per client; revoking the session revokes them. */
  grantIds: string[];
  /** client id → the `sid` that client was told (ID Token; OIDC Back-Channel Logout 1.0 §2.4). */
  sids: Record<string, string>;
}

/**
 * Told of sessions once their end has committed, so their clients can learn of it (OIDC
 * Back-Channel Logout: tenancy/backchannel-logout.ts). Returns at once and never throws: a slow
 * or failing client is never the caller's problem.
 */
export type SessionsEnded = (tenant: Tenant, sessions: UserSession[]) => void;
