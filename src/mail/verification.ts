import type { Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { log } from '../log/logger.js';

/** Placeholder until the mail module lands: says that no mail was sent. */
export async function sendVerificationMail(_deps: Deps, tenant: Tenant, user: { id: string; email: string }, reason: 'sign_up' | 'email_changed' | 'resend'): Promise<void> {
  log().warn('mail.unavailable', { tenant: tenant.slug, user_id: user.id, reason });
}
