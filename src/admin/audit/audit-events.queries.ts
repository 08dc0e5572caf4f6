import type { Db } from '../../db/knex.js';

export interface AuditFilter {
  type?: string;
  actor?: string;
  since?: Date;
  until?: Date;
  beforeId?: number;
  limit: number;
}

/** Newest first, keyset on the per-tenant chain id. Rows keep the audit trail's column names. */
export async function findAuditEventsPage(db: Db, tenantId: string, f: AuditFilter) {
  return db('audit_events')
    .where({ tenant_id: tenantId })
    .modify((q) => {
      if (f.type) q.where('type', f.type);
      if (f.actor) q.where('actor', f.actor);
      if (f.since) q.where('at', '>=', f.since);
      if (f.until) q.where('at', '<', f.until);
      if (f.beforeId !== undefined) q.where('id', '<', f.beforeId);
    })
    .orderBy('id', 'desc')
    .limit(f.limit)
    .select('id', 'at', 'type', 'actor', 'subject', 'ip', 'user_agent', 'outcome', 'details', 'prev_hash', 'hash') as Promise<any[]>;
}
