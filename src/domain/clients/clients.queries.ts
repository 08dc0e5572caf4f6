import { findTenantRowsPage } from '../../db/keyset.js';
import { canNameRow, type Db } from '../../db/knex.js';
import type { ClientRecord } from './clients.types.js';

export function toClient(row: any): ClientRecord {
  return {
    tenantId: row.tenant_id,
    clientId: row.client_id,
    metadata: typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata,
    secretHash: row.secret_hash,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export async function findClient(db: Db, tenantId: string, clientId: string) {
  if (!canNameRow(clientId)) return undefined;
  const row = await db('clients').where({ tenant_id: tenantId, client_id: clientId }).first();
  return row ? toClient(row) : undefined;
}

export async function insertClient(db: Db, tenantId: string, clientId: string, metadata: Record<string, unknown>, secretHash: string | null) {
  const [row] = await db('clients')
    .insert({ tenant_id: tenantId, client_id: clientId, metadata: JSON.stringify(metadata), secret_hash: secretHash })
    .returning('*');
  return toClient(row);
}

export async function updateClient(db: Db, tenantId: string, clientId: string, changes: { metadata?: Record<string, unknown>; secretHash?: string | null }) {
  const [row] = await db('clients')
    .where({ tenant_id: tenantId, client_id: clientId })
    .update({
      ...(changes.metadata ? { metadata: JSON.stringify(changes.metadata) } : {}),
      ...(changes.secretHash !== undefined ? { secret_hash: changes.secretHash } : {}),
      updated_at: db.fn.now(),
    })
    .returning('*');
  return row ? toClient(row) : undefined;
}

export async function deleteClient(db: Db, tenantId: string, clientId: string) {
  return db('clients').where({ tenant_id: tenantId, client_id: clientId }).delete();
}

/** One page of a tenant's clients by client_id (keyset). */
export async function findClientsPage(db: Db, tenantId: string, options: { afterClientId?: string; limit: number }): Promise<ClientRecord[]> {
  const rows = await findTenantRowsPage(db, 'clients', tenantId, 'client_id', { after: options.afterClientId, limit: options.limit });
  return rows.map(toClient);
}
