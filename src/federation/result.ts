import { randomBytes } from 'node:crypto';
import type { Deps } from '../deps.js';
import { kvKey } from '../kv/store.js';

/** Long enough for the hop from the ACS or callback to the interaction page; no longer. */
const RESULT_TTL_SECONDS = 120;

/** A completed federated login waiting for the interaction page to pick it up. */
export interface FederatedResult {
  /** The interaction it was made for: the page refuses it under any other (login CSRF). */
  interactionUid: string;
  accountId: string;
  amr: string[];
  connection: string;
}

const key = (deps: Pick<Deps, 'kvPrefix'>, tenantId: string, handle: string) => kvKey(deps.kvPrefix, tenantId, 'federation-result', handle);

/** Stores the result under a random handle (256 bits); tenant-scoped key. */
export async function storeFederatedResult(deps: Pick<Deps, 'kv' | 'kvPrefix'>, tenantId: string, result: FederatedResult) {
  const handle = randomBytes(32).toString('base64url');
  await deps.kv.set(key(deps, tenantId, handle), JSON.stringify(result), RESULT_TTL_SECONDS);
  return handle;
}

/**
 * Takes the result once: the counter makes the first reader the only one, on any node. Undefined
 * when the handle is unknown, expired, already used or not of this tenant.
 */
export async function consumeFederatedResult(deps: Pick<Deps, 'kv' | 'kvPrefix'>, tenantId: string, handle: string): Promise<FederatedResult | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(handle)) return undefined;
  const k = key(deps, tenantId, handle);
  const stored = await deps.kv.get(k);
  if (!stored) return undefined;
  if ((await deps.kv.incr(`${k}:taken`, RESULT_TTL_SECONDS)) !== 1) return undefined;
  await deps.kv.del(k);
  return JSON.parse(stored) as FederatedResult;
}
