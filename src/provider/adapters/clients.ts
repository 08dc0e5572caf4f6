import type { Adapter } from 'oidc-provider';
import type { Db } from '../../db/knex.js';
import { findClient } from '../../domain/clients/clients.queries.js';

/**
 * Clients come from domain/clients on every lookup, so a change made on any node holds at
 * once. `client_secret` carries the keyed hash; create-provider.ts compares against it.
 */
export class ClientAdapter implements Adapter {
  constructor(private readonly db: Db, private readonly tenantId: string) {}

  async find(id: string) {
    const client = await findClient(this.db, this.tenantId, id);
    if (!client) return undefined;
    return { ...client.metadata, client_id: client.clientId, ...(client.secretHash ? { client_secret: client.secretHash } : {}) };
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
