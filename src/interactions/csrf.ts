import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../security/secrets.js';

/**
 * Synchronizer token bound to one interaction: HMAC of its uid under the tenant's cookie key.
 * The interaction itself is bound to the browser by oidc-provider's signed interaction cookie.
 */
export function csrfToken(key: string, uid: string) {
  return createHmac('sha256', key).update(`csrf:${uid}`).digest('base64url');
}

export function checkCsrf(key: string, uid: string, presented: unknown) {
  return typeof presented === 'string' && constantTimeEqual(csrfToken(key, uid), presented);
}
