import { createHash } from 'node:crypto';
import type { Deps } from '../../deps.js';
import { kvKey } from '../../kv/store.js';

/**
 * The state a SAML login keeps between its two halves, in kv (Redis with REDIS_URL, so every node
 * sees it): the AuthnRequests this SP sent, each taken once, and the IDs of the assertions it
 * accepted, each accepted once (SAML profiles §4.1.4.5).
 */

/** How long a user may spend at the IdP between the AuthnRequest and the Response. */
export const AUTHN_REQUEST_TTL_SECONDS = 10 * 60;

/** IDs are the IdP's choice of length; kv keys stay short. */
const short = (id: string) => createHash('sha256').update(id).digest('base64url');

export interface TrackedRequest {
  /** The oidc-provider interaction this login continues. */
  interactionUid: string;
}

const requestKey = (deps: Pick<Deps, 'kvPrefix'>, tenantId: string, connection: string, id: string, part: string) =>
  kvKey(deps.kvPrefix, tenantId, 'saml', connection, part, short(id));

export async function trackAuthnRequest(deps: Pick<Deps, 'kv' | 'kvPrefix'>, tenantId: string, connection: string, id: string, request: TrackedRequest) {
  await deps.kv.set(requestKey(deps, tenantId, connection, id, 'request'), JSON.stringify(request), AUTHN_REQUEST_TTL_SECONDS);
}

/**
 * The request `id` of this connection, once: a second take (on any node) finds nothing. The key
 * names the tenant and the connection, so another connection's request ID is unknown here.
 */
export async function takeAuthnRequest(deps: Pick<Deps, 'kv' | 'kvPrefix'>, tenantId: string, connection: string, id: string): Promise<TrackedRequest | undefined> {
  if ((await deps.kv.incr(requestKey(deps, tenantId, connection, id, 'request-taken'), AUTHN_REQUEST_TTL_SECONDS)) > 1) return undefined;
  const stored = await deps.kv.get(requestKey(deps, tenantId, connection, id, 'request'));
  if (stored === undefined) return undefined;
  await deps.kv.del(requestKey(deps, tenantId, connection, id, 'request'));
  return JSON.parse(stored) as TrackedRequest;
}

/** False when the assertion was accepted before; the mark lasts as long as the assertion could be. */
export async function acceptAssertionOnce(deps: Pick<Deps, 'kv' | 'kvPrefix'>, tenantId: string, connection: string, assertionId: string, usableUntil: number) {
  const ttl = Math.max(1, Math.ceil((usableUntil - Date.now()) / 1000));
  return (await deps.kv.incr(requestKey(deps, tenantId, connection, assertionId, 'assertion'), ttl)) === 1;
}
