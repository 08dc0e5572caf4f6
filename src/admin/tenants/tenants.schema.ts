import { z } from 'zod';
import { TENANT_SLUG } from '../../domain/tenants/tenants.types.js';

const count = z.number().int().min(0);
const seconds = z.number().int().min(1);

/** limit 0 turns a limit off; the bounds keep every value a valid Redis expiry and counter. */
const rateLimit = z.object({
  limit: count.max(1_000_000).optional(),
  window_seconds: seconds.max(30 * 24 * 3600).optional(),
}).strict();

export const CreateTenant = z.object({
  slug: z.string().regex(TENANT_SLUG, 'must match ^[a-z0-9][a-z0-9-]{1,62}$'),
  name: z.string().min(1).max(200).optional(),
}).strict();

/** Any subset of the settings; nested objects are merged with what is stored. */
export const PatchTenant = z.object({
  name: z.string().min(1).max(200).optional(),
  access_token_ttl: seconds.optional(),
  id_token_ttl: seconds.optional(),
  refresh_token_ttl: seconds.optional(),
  session_ttl: seconds.optional(),
  lockout: z.object({ max_failed_attempts: count.optional(), window_seconds: count.optional(), duration_seconds: count.optional() }).strict().optional(),
  password_policy: z.object({ min_length: count.max(1024).optional(), block_common: z.boolean().optional() }).strict().optional(),
  mfa_required: z.boolean().optional(),
  max_sessions_per_user: count.optional(),
  registration: z.object({ enabled: z.boolean().optional() }).strict().optional(),
  require_verified_email: z.boolean().optional(),
  // 0 = only on demand (POST …/keys/rotate); at most ten years.
  key_rotation_days: count.max(3650).optional(),
  rate_limits: z.object({
    login_per_ip: rateLimit.optional(),
    login_per_account: rateLimit.optional(),
    client_auth_failures: rateLimit.optional(),
    mail_per_address: rateLimit.optional(),
  }).strict().optional(),
}).strict();
