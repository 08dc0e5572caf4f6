import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditRow {
  tenant_id: string;
  id: number;
  at: string; // ISO 8601, millisecond precision
  type: string;
  actor: string | null;
  subject: string | null;
  ip: string | null;
  user_agent: string | null;
  outcome: string;
  details: Record<string, unknown>;
  prev_hash: string;
}

/** JSON with object keys sorted at every depth: jsonb does not keep key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash of a row covers every column and the previous row's hash. */
export function hashAuditRow(row: AuditRow): string {
  const material = canonicalJson([
    row.tenant_id, row.id, row.at, row.type, row.actor, row.subject, row.ip, row.user_agent, row.outcome, row.details, row.prev_hash,
  ]);
  return createHash('sha256').update(material).digest('hex');
}

export interface ChainBreak {
  id: number;
  reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'gap';
}

/** Walks rows in id order and returns the first broken link, if any. */
export function findChainBreak(rows: Iterable<AuditRow & { hash: string }>, start = { id: 0, hash: GENESIS_HASH }): ChainBreak | undefined {
  let prev = start;
  for (const row of rows) {
    if (row.id !== prev.id + 1) return { id: row.id, reason: 'gap' };
    if (row.prev_hash !== prev.hash) return { id: row.id, reason: 'prev_hash_mismatch' };
    if (hashAuditRow(row) !== row.hash) return { id: row.id, reason: 'hash_mismatch' };
    prev = { id: row.id, hash: row.hash };
  }
  return undefined;
}
