import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Db } from '../../db/knex.js';
import { findClient } from '../../domain/clients/clients.queries.js';
import type { TenantCache } from '../tenant-cache.js';

/**
 * Clients come from domain/clients, kept per node in the tenant's cache, which the change feed
 * drops when a client changes on any node. `client_secret` carries the keyed hash;
 * create-provider.ts compares against it.
 */
export class ClientAdapter implements Adapter {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
    private readonly cache?: TenantCache,
    /** Gatehouse's own clients (domain/clients/builtin-clients.ts): they win over any stored row. */
    private readonly builtins: Record<string, Record<string, unknown>> = {},
  ) {}

  async find(id: string) {
    const builtin = Object.hasOwn(this.builtins, id) ? this.builtins[id] : undefined;
    if (builtin) return structuredClone(builtin) as AdapterPayload;
    const load = async () => {
      const client = await findClient(this.db, this.tenantId, id);
      if (!client) return undefined;
      return JSON.stringify({ ...client.metadata, client_id: client.clientId, ...(client.secretHash ? { client_secret: client.secretHash } : {}) });
    };
    const json = this.cache ? await this.cache.remember(this.cache.clients, id, load) : await load();
    // A fresh object each time: the provider must not be able to alter the cached copy.
    return json === undefined ? undefined : (JSON.parse(json) as AdapterPayload);
  }

  async upsert() {
    throw new Error('clients are managed through the admin API');
  }
  async findByUid() {
    return undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async consume() {}
  async destroy() {}
  async revokeByGrantId() {}
}
