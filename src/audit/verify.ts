import type { Db } from '../db/knex.js';
import { findChainBreak, GENESIS_HASH, type AuditRow, type ChainBreak } from './chain.js';

export interface ChainReport {
  tenantId: string;
  events: number;
  break?: ChainBreak;
}

/** Recomputes a tenant's chain in pages and compares its end with the head. */
export async function verifyAuditChain(db: Db, tenantId: string): Promise<ChainReport> {
  let last = { id: 0, hash: GENESIS_HASH };
  let events = 0;
  for (;;) {
    const rows = await db('audit_events').where({ tenant_id: tenantId }).andWhere('id', '>', last.id).orderBy('id').limit(1000);
    if (rows.length === 0) break;
    const typed = rows.map(toRow);
    const broken = findChainBreak(typed, last);
    if (broken) return { tenantId, events: events + typed.findIndex((r) => r.id === broken.id), break: broken };
    events += typed.length;
    last = { id: typed[typed.length - 1].id, hash: typed[typed.length - 1].hash };
  }
  const head = await db('audit_heads').where({ tenant_id: tenantId }).first();
  if (head && (Number(head.last_id) !== last.id || head.last_hash !== last.hash)) {
    // Rows were removed from the end of the chain.
    return { tenantId, events, break: { id: last.id + 1, reason: 'gap' } };
  }
  return { tenantId, events };
}

function toRow(r: any): AuditRow & { hash: string } {
  return {
    tenant_id: r.tenant_id,
    id: Number(r.id),
    at: new Date(r.at).toISOString(),
    type: r.type,
    actor: r.actor,
    subject: r.subject,
    ip: r.ip,
    user_agent: r.user_agent,
    outcome: r.outcome,
    details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details,
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}
