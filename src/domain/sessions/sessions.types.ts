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
}
