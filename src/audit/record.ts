import { hotQuery } from '../db/hot-query.js';
import type { Db, Trx } from '../db/knex.js';
import { redact } from '../log/logger.js';
import { GENESIS_HASH, hashAuditRow, type AuditRow } from './chain.js';

/**
 * What an event was done to, in one format: `kind:key`, the way `actor` names a principal
 * (`user:<id>`): user:<id>, client:<client_id>, tenant:<slug>, role:<name>, group:<id>,
 * resource:<identifier>, key:<kid>, saml-connection:<name>, oidc-connection:<name>. A session's
 * events name its user (the sessions are in `details`).
 */
export const AUDIT_SUBJECT_KINDS = ['user', 'client', 'tenant', 'role', 'group', 'resource', 'key', 'saml-connection', 'oidc-connection'] as const;
export type AuditSubject = `${(typeof AUDIT_SUBJECT_KINDS)[number]}:${string}`;
export const AUDIT_SUBJECT = new RegExp(`^(${AUDIT_SUBJECT_KINDS.join('|')}):[^\\s]+$`);

export interface AuditEvent {
  tenantId: string;
  type: string;
  actor?: string | null;
  subject?: AuditSubject | null;
  ip?: string | null;
  userAgent?: string | null;
  outcome?: 'success' | 'failure';
  details?: Record<string, unknown>;
}

/**
 * Appends one event to its tenant's chain. Call it inside the transaction of the change it
 * records, so the event exists exactly when the change does. Returns the new head.
 */
export async function recordAudit(trx: Trx | Db, event: AuditEvent): Promise<Head> {
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
  const row = auditRow(event, { id: Number(head.last_id), hash: head.last_hash });
  const hash = hashAuditRow(row);
  // The row and the new head in one round trip (a data-modifying CTE runs exactly once).
  await trx.raw(
    `with appended as (
       insert into audit_events (tenant_id, id, at, type, actor, subject, ip, user_agent, outcome, details, prev_hash, hash)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?))
     update audit_heads set last_id = ?, last_hash = ? where tenant_id = ?`,
    [...rowValues(row, hash), row.id, hash, row.tenant_id],
  );
  return { id: row.id, hash };
}

interface Head {
  id: number;
  hash: string;
}

function auditRow(event: AuditEvent, head: Head): AuditRow {
  return {
    tenant_id: event.tenantId,
    id: head.id + 1,
    at: new Date().toISOString(),
    type: event.type,
    actor: event.actor ?? null,
    subject: event.subject ?? null,
    ip: event.ip ?? null,
    user_agent: event.userAgent ? event.userAgent.slice(0, 512) : null,
    outcome: event.outcome ?? 'success',
    // Audit details never carry secrets, whatever a caller passes.
    details: JSON.parse(JSON.stringify(redact(event.details ?? {}))),
    prev_hash: head.hash,
  };
}

const rowValues = (row: AuditRow, hash: string) =>
  [row.tenant_id, row.id, row.at, row.type, row.actor, row.subject, row.ip, row.user_agent, row.outcome, JSON.stringify(row.details), row.prev_hash, hash];

/**
 * Per database handle (a node; a second node in the same process has its own): the chain head
 * each tenant had after this node's last append, and the tail of its queue of appends.
 */
interface NodeHeads {
  heads: Map<string, Head>;
  queues: Map<string, Promise<unknown>>;
}
const nodes = new WeakMap<object, NodeHeads>();
const MAX_HEADS = 10_000;

function nodeHeads(db: Db): NodeHeads {
  const key = db.client.config as object;
  let found = nodes.get(key);
  if (!found) nodes.set(key, (found = { heads: new Map(), queues: new Map() }));
  return found;
}

/**
 * Records outside a caller's transaction (a login, where nothing else is written), as one
 * statement when it can: the head this node last wrote is assumed, and the append is
 * conditional on the head row still holding exactly it (compare-and-set in a data-modifying CTE,
 * atomic as any single statement). If another node, the CLI or a transaction appended meanwhile,
 * or this node never appended for the tenant, nothing is written and the append runs again as
 * recordAudit does, with the head locked. The chain is the same either way; only the number of
 * round trips differs (1 instead of 4). Appends of one tenant on this node queue behind each
 * other, so they do not race for the same head.
 */
export async function recordAuditNow(db: Db, event: AuditEvent): Promise<void> {
  const node = nodeHeads(db);
  const tail = node.queues.get(event.tenantId) ?? Promise.resolve();
  const mine = tail.then(() => append(db, node, event));
  const settled = mine.catch(() => {});
  node.queues.set(event.tenantId, settled);
  void settled.then(() => {
    if (node.queues.get(event.tenantId) === settled) node.queues.delete(event.tenantId);
  });
  await mine;
}

async function append(db: Db, node: NodeHeads, event: AuditEvent) {
  const known = node.heads.get(event.tenantId);
  if (known) {
    const row = auditRow(event, known);
    const hash = hashAuditRow(row);
    const result = await hotQuery(db,
      `with head as (
         update audit_heads set last_id = ?, last_hash = ?
          where tenant_id = ? and last_id = ? and last_hash = ?
          returning tenant_id)
       insert into audit_events (tenant_id, id, at, type, actor, subject, ip, user_agent, outcome, details, prev_hash, hash)
       select ?::uuid, ?::bigint, ?::timestamptz, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::jsonb, ?::text, ?::text from head
       returning id`,
      [row.id, hash, row.tenant_id, known.id, known.hash, ...rowValues(row, hash)],
    );
    if (result.rows.length === 1) {
      node.heads.set(event.tenantId, { id: row.id, hash });
      return;
    }
  }
  node.heads.delete(event.tenantId);
  const head = await db.transaction((trx) => recordAudit(trx, event));
  if (node.heads.size >= MAX_HEADS) node.heads.clear();
  node.heads.set(event.tenantId, head);
}
