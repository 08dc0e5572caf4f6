import type { RateLimitSettings } from '../../security/rate-limit.js';

export interface TenantSettings {
  access_token_ttl: number;
  id_token_ttl: number;
  refresh_token_ttl: number;
  session_ttl: number;
  lockout: { max_failed_attempts: number; window_seconds: number; duration_seconds: number };
  /** `block_common`: refuse the most common passwords (security/common-passwords). */
  password_policy: { min_length: number; block_common: boolean };
  mfa_required: boolean;
  max_sessions_per_user: number;
  /** Self-service sign-up (prompt=create). */
  registration: { enabled: boolean };
  /** An unverified email stops a login before tokens are issued. */
  require_verified_email: boolean;
  /** DESIGN.md "Admin API": each `{limit, window_seconds}`, limit 0 = off (security/rate-limit.ts). */
  rate_limits: RateLimitSettings;
  /** Days between scheduled signing-key rotations (domain/keys/key-schedule.ts); 0 = only on demand. */
  key_rotation_days: number;
}

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  settings: TenantSettings;
  createdAt: Date;
  updatedAt: Date;
}

export const DEFAULT_TENANT_SETTINGS: TenantSettings = {
  access_token_ttl: 3600,
  id_token_ttl: 3600,
  refresh_token_ttl: 30 * 24 * 3600,
  session_ttl: 14 * 24 * 3600,
  lockout: { max_failed_attempts: 5, window_seconds: 900, duration_seconds: 900 },
  password_policy: { min_length: 8, block_common: true },
  mfa_required: false,
  max_sessions_per_user: 0,
  registration: { enabled: false },
  require_verified_email: false,
  rate_limits: {
    login_per_ip: { limit: 20, window_seconds: 60 },
    login_per_account: { limit: 10, window_seconds: 60 },
    client_auth_failures: { limit: 20, window_seconds: 60 },
    mail_per_address: { limit: 3, window_seconds: 900 },
  },
  key_rotation_days: 90,
};

export const SYSTEM_TENANT = 'system';
export const TENANT_SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;
/** Roles every tenant has from its creation (DESIGN.md "Admin API"). */
export const TENANT_ADMIN_ROLE = 'tenant-admin';
export const SYSTEM_ADMIN_ROLE = 'system-admin';

/** The issuer of a tenant (DESIGN.md "Tenants and URLs"). */
export const issuerOf = (publicUrl: string, slug: string) => `${publicUrl}/t/${slug}`;
