import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Db } from '../../db/knex.js';
import { findClient } from '../../domain/clients/clients.queries.js';

/**
 * Clients come from domain/clients. The provider's Client objects built from them are kept per
 * node in the tenant's cache (create-provider.ts), so this runs only when a client is not there.
 * `client_secret` carries the keyed hash; create-provider.ts compares against it.
 */
export class ClientAdapter implements Adapter {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
    /** Gatehouse's own clients (domain/clients/builtin-clients.ts): they win over any stored row. */
    private readonly builtins: Record<string, Record<string, unknown>> = {},
  ) {}

  async find(id: string) {
    const builtin = Object.hasOwn(this.builtins, id) ? this.builtins[id] : undefined;
    if (builtin) return structuredClone(builtin) as AdapterPayload;
    const client = await findClient(this.db, this.tenantId, id);
    if (!client) return undefined;
    return { ...client.metadata, client_id: client.clientId, ...(client.secretHash ? { client_secret: client.secretHash } : {}) } as AdapterPayload;
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
