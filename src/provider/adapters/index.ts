import type { Adapter } from 'oidc-provider';
import type { Deps } from '../../deps.js';
import { ClientAdapter } from './clients.js';
import { KvAdapter } from './kv.js';
import { PostgresAdapter } from './postgres.js';

/**
 * Where each oidc-provider model lives. What must survive a restart is in Postgres;
 * short-lived, hot artifacts are in the kv store (Redis, or memory on a single node).
 *
 * Opaque client_credentials tokens are such artifacts: they live for the access-token TTL, belong
 * to no user (nothing in the admin API lists or revokes them by account), and are written once per
 * grant; in Redis a grant costs one pipelined write instead of a committed Postgres insert (the
 * bench's opaque phase). Revocation and introspection read the same store on every node. With the
 * in-process store (one node, no REDIS_URL) a restart forgets them and clients fetch new ones.
 */
const KV_MODELS = new Set(['Interaction', 'AuthorizationCode', 'ReplayDetection', 'PushedAuthorizationRequest', 'ClientCredentials']);

export function adapterFactory(tenantId: string, deps: Pick<Deps, 'db' | 'kv' | 'kvPrefix'>, builtinClients: Record<string, Record<string, unknown>> = {}) {
  return (model: string): Adapter => {
    if (model === 'Client') return new ClientAdapter(deps.db, tenantId, builtinClients);
    if (KV_MODELS.has(model)) return new KvAdapter(deps.kv, deps.kvPrefix, tenantId, model);
    return new PostgresAdapter(deps.db, tenantId, model);
  };
}
