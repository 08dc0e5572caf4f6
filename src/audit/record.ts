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
  // Lock (or create) the chain head: appends of one tenant are serialised, other tenants run freely.
  await trx.raw(
    `insert into audit_heads (tenant_id, last_id, last_hash) values (?, 0, ?) on conflict (tenant_id) do nothing`,
    [event.tenantId, GENESIS_HASH],
  );
  const head = await trx('audit_heads').where({ tenant_id: event.tenantId }).forUpdate().first();
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
  await trx('audit_events').insert({ ...row, details: JSON.stringify(row.details), hash });
  await trx('audit_heads').where({ tenant_id: event.tenantId }).update({ last_id: row.id, last_hash: hash });
}

/** Records outside a caller's transaction (e.g. a failed login, where nothing else is written). */
export async function recordAuditNow(db: Db, event: AuditEvent) {
  await db.transaction((trx) => recordAudit(trx, event));
}
