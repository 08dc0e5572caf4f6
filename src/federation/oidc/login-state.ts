import type { Deps } from '../../deps.js';
import { kvKey } from '../../kv/store.js';

/** Long enough to sign in at the upstream (a password, a second factor); no longer. */
export const STATE_TTL_SECONDS = 600;

/** What the callback needs from the start, kept in kv under the `state` value. */
export interface LoginState {
  interactionUid: string;
  connection: string;
  codeVerifier: string;
  nonce: string;
}

const key = (deps: Pick<Deps, 'kvPrefix'>, tenantId: string, state: string) => kvKey(deps.kvPrefix, tenantId, 'oidc-federation-state', state);

export async function saveLoginState(deps: Pick<Deps, 'kv' | 'kvPrefix'>, tenantId: string, state: string, value: LoginState) {
  await deps.kv.set(key(deps, tenantId, state), JSON.stringify(value), STATE_TTL_SECONDS);
}

/**
 * Takes a state once (a replayed callback finds nothing), on any node; tenant-scoped, so a state
 * made under one tenant's issuer is unknown under another's.
 */
export async function takeLoginState(deps: Pick<Deps, 'kv' | 'kvPrefix'>, tenantId: string, state: string): Promise<LoginState | undefined> {
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(state)) return undefined;
  const k = key(deps, tenantId, state);
  const stored = await deps.kv.get(k);
  if (!stored) return undefined;
  if ((await deps.kv.incr(`${k}:taken`, STATE_TTL_SECONDS)) !== 1) return undefined;
  await deps.kv.del(k);
  return JSON.parse(stored) as LoginState;
}
