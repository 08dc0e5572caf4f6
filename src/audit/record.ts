import type { Db, Trx } from '../db/knex.js';
import { redact } from '../log/logger.js';
import { GENESIS_HASH, hashAuditRow, type AuditRow } from './chain.js';

export interface AuditEvent {
  tenantId: string;
  type: string;
  actor?: string | null;
  subject?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  outcome?: 'success' | 'failure';
  details?: Record<string, unknown>;
}

/**
 * Appends one event to its tenant's chain. Call it inside the transaction of the change it
 * records, so the event exists exactly when the change does.
 */
export async function recordAudit(trx: Trx | Db, event: AuditEvent): Promise<void> {
  // Lock (or create) the chain head in one statement: ON CONFLICT DO UPDATE takes the row lock
  // (like SELECT ... FOR UPDATE) and returns the latest committed head once it has it, so appends
  // of one tenant are serialised while other tenants run freely.
  const locked = await trx.raw(
    `insert into audit_heads (tenant_id, last_id, last_hash) values (?, 0, ?)
     on conflict (tenant_id) do update set last_id = audit_heads.last_id
     returning last_id, last_hash`,
    [event.tenantId, GENESIS_HASH],
  );
  const head = locked.rows[0];
  const row: AuditRow = {
    tenant_id: event.tenantId,
    id: Number(head.last_id) + 1,
    at: new Date().toISOString(),
    type: event.type,
    actor: event.actor ?? null,
    subject: event.subject ?? null,
    ip: event.ip ?? null,
    user_agent: event.userAgent ? event.userAgent.slice(0, 512) : null,
    outcome: event.outcome ?? 'success',
    // Audit details never carry secrets, whatever a caller passes.
    details: JSON.parse(JSON.stringify(redact(event.details ?? {}))),
    prev_hash: head.last_hash,
  };
  const hash = hashAuditRow(row);
  // The row and the new head in one round trip (a data-modifying CTE runs exactly once).
  await trx.raw(
    `with appended as (
       insert into audit_events (tenant_id, id, at, type, actor, subject, ip, user_agent, outcome, details, prev_hash, hash)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?))
     update audit_heads set last_id = ?, last_hash = ? where tenant_id = ?`,
    [row.tenant_id, row.id, row.at, row.type, row.actor, row.subject, row.ip, row.user_agent, row.outcome, JSON.stringify(row.details), row.prev_hash, hash, row.id, hash, row.tenant_id],
  );
}

/** Records outside a caller's transaction (e.g. a failed login, where nothing else is written). */
export async function recordAuditNow(db: Db, event: AuditEvent) {
  await db.transaction((trx) => recordAudit(trx, event));
}
