import { randomUUID } from 'node:crypto';
import { isDbUnavailable } from '../db/unavailable.js';
import type { Db } from '../db/knex.js';
import type { KvStore } from '../kv/store.js';
import { log } from '../log/logger.js';
import { recordAuditNow, type AuditEvent } from './record.js';

/**
 * Audit events of actions already done outside PostgreSQL (a client_credentials token destroyed
 * in Redis, an account locked there) whose append failed because PostgreSQL did not answer. The
 * action cannot be taken back, and a retry finds nothing left to do, so the event waits in the kv
 * store until a node's drain appends it. It keeps when it happened (`details.occurred_at`); its
 * place in the chain is when it was appended.
 *
 * Each waiting event is one member of one set (written in one command, so it is kept whole or not
 * at all) and carries an id that goes into `details.outbox_id`, which a unique index makes
 * appendable once (migrations/20261202_011_audit_outbox.ts): a drain that appended an event and
 * failed to clear it, two drains of one event, or an append whose answer was lost and whose
 * event was kept as well (the id is given before the first attempt), append it once.
 */
interface Outbox {
  db: Db;
  kv: KvStore;
  kvPrefix: string;
}

interface Kept {
  id: string;
  event: AuditEvent;
  occurredAt: string;
}

/** How long events wait for PostgreSQL before the kv store lets them go (from the last one kept). */
const KEEP_SECONDS = 30 * 24 * 3600;
/** While one drain appends an event, the others leave it alone (they would only be refused). */
const CLAIM_SECONDS = 60;
/** Events one drain takes on; the rest wait for the next tick (5 s later). */
const BATCH = 100;
const OUTBOX_DRAIN_INTERVAL_MS = 5000;
const OUTBOX_INDEX = 'audit_events_outbox_id';

const setKey = (prefix: string) => `${prefix}audit-outbox`;
const claimKey = (prefix: string, id: string) => `${prefix}audit-outbox:claim:${id}`;

/**
 * Appends the event now or, when PostgreSQL is unavailable, keeps it for the drain. Throws what
 * the append threw when the kv store cannot keep it either (the caller answers 503), or when the
 * append failed for another reason.
 */
export async function recordAuditOrKeep(deps: Outbox, event: AuditEvent): Promise<void> {
  const occurredAt = new Date().toISOString();
  const id = randomUUID();
  try {
    // The id goes with the event when it is appended now too. PostgreSQL may have taken it and
    // its answer been lost (the connection broke after the commit, or the statement deadline
    // passed while a slow server went on): the copy kept below is then refused by the outbox
    // index when drained, instead of being appended a second time.
    await recordAuditNow(deps.db, { ...event, details: { ...event.details, outbox_id: id } });
  } catch (err) {
    if (!isDbUnavailable(err)) throw err;
    const kept: Kept = { id, event, occurredAt };
    try {
      await deps.kv.sadd(setKey(deps.kvPrefix), JSON.stringify(kept), KEEP_SECONDS);
    } catch {
      throw err;
    }
    log().warn('audit.deferred', { tenant_id: event.tenantId, type: event.type, detail: 'PostgreSQL did not take the event; it waits in the kv store and is appended when PostgreSQL answers again' });
  }
}

/**
 * Appends up to BATCH waiting events (picked at random, so nodes draining side by side mostly take
 * different ones; `occurred_at` tells when each happened), and stops at the first sign that
 * PostgreSQL is still away. An event PostgreSQL refuses for another reason waits for the next
 * tick; none is let go before KEEP_SECONDS.
 */
export async function drainAuditOutbox(deps: Outbox): Promise<number> {
  const key = setKey(deps.kvPrefix);
  let appended = 0;
  for (const member of await deps.kv.srandmember(key, BATCH)) {
    const kept = parseKept(member);
    if (!kept) {
      log().warn('audit.deferred_unreadable', { detail: 'a waiting audit event could not be read and is let go' });
      await deps.kv.srem(key, member);
      continue;
    }
    const claim = claimKey(deps.kvPrefix, kept.id);
    if ((await deps.kv.incr(claim, CLAIM_SECONDS)) !== 1) continue;
    const { event, occurredAt, id } = kept;
    try {
      await recordAuditNow(deps.db, { ...event, details: { ...event.details, outbox_id: id, occurred_at: occurredAt, recorded_late: true } });
      appended++;
    } catch (err) {
      // Refused by the outbox index: appended before, only its clearing failed.
      const already = (err as { code?: unknown; constraint?: unknown }).code === '23505' && (err as { constraint?: unknown }).constraint === OUTBOX_INDEX;
      if (!already) {
        await deps.kv.del(claim);
        if (isDbUnavailable(err)) break;
        log().warn('audit.deferred_failed', { tenant_id: event.tenantId, type: event.type, occurred_at: occurredAt, error: { name: (err as Error).name, code: (err as { code?: unknown }).code } });
        continue;
      }
    }
    await deps.kv.srem(key, member);
    await deps.kv.del(claim);
  }
  if (appended) log().info('audit.deferred_appended', { events: appended });
  return appended;
}

function parseKept(member: string): Kept | undefined {
  try {
    const kept = JSON.parse(member) as Kept;
    return typeof kept?.id === 'string' && typeof kept.occurredAt === 'string' && typeof kept.event?.tenantId === 'string' && typeof kept.event.type === 'string' ? kept : undefined;
  } catch {
    return undefined;
  }
}

/** How long stopping waits for a drain under way (a hung PostgreSQL must not hold up an exit). */
const STOP_WAIT_MS = 2000;

/**
 * Every node drains on a timer; a drain failing (a store away) is tried again at the next tick.
 * The returned stop waits up to STOP_WAIT_MS for a drain under way; one cut short there appends
 * nothing twice (the outbox index) and loses nothing (what it did not clear waits on).
 */
export function drainAuditOutboxEvery(deps: Outbox, ms = OUTBOX_DRAIN_INTERVAL_MS) {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= drainAuditOutbox(deps).catch(() => {}).finally(() => (running = undefined));
  }, ms);
  timer.unref();
  return async () => {
    clearInterval(timer);
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise((resolve) => (waited = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(waited);
  };
}
