import { randomUUID } from 'node:crypto';
import { isDbUnavailable } from '../db/unavailable.js';
import type { Db } from '../db/knex.js';
import { kvKey, type KvStore } from '../kv/store.js';
import { log } from '../log/logger.js';
import { recordAuditNow, type AuditEvent } from './record.js';

/**
 * Audit events of actions already done outside PostgreSQL (a token destroyed in Redis, an account
 * locked there) whose append failed because PostgreSQL did not answer. The action cannot be taken
 * back, and a retry finds nothing left to do, so the event waits in the kv store (as long-lived
 * as the token it speaks of) until a node's drain appends it. The event keeps when it happened
 * (`details.occurred_at`); its place in the chain is when it was appended.
 */
interface Outbox {
  db: Db;
  kv: KvStore;
  kvPrefix: string;
}

interface Kept {
  event: AuditEvent;
  occurredAt: string;
}

/** How long an event waits for PostgreSQL before the kv store lets it go. */
const KEEP_SECONDS = 30 * 24 * 3600;
/** A drain that took an event and died before finishing gives it back to the others after this. */
const CLAIM_SECONDS = 120;
export const OUTBOX_DRAIN_INTERVAL_MS = 5000;

// One index for the deployment (members `tenant/id`); each event under its tenant's hash tag.
const indexKey = (prefix: string) => `${prefix}audit-outbox`;
const eventKey = (prefix: string, tenantId: string, id: string) => kvKey(prefix, tenantId, 'audit-outbox', id);
const claimKey = (prefix: string, tenantId: string, id: string) => kvKey(prefix, tenantId, 'audit-outbox', id, 'claim');

/**
 * Appends the event now or, when PostgreSQL is unavailable, keeps it for the drain. Throws what
 * the append threw when the kv store cannot keep it either (the caller answers 503), or when the
 * append failed for another reason.
 */
export async function recordAuditOrKeep(deps: Outbox, event: AuditEvent): Promise<void> {
  const occurredAt = new Date().toISOString();
  try {
    await recordAuditNow(deps.db, event);
  } catch (err) {
    if (!isDbUnavailable(err)) throw err;
    const id = randomUUID();
    try {
      await deps.kv.set(eventKey(deps.kvPrefix, event.tenantId, id), JSON.stringify({ event, occurredAt } satisfies Kept), KEEP_SECONDS);
      await deps.kv.sadd(indexKey(deps.kvPrefix), `${event.tenantId}/${id}`, KEEP_SECONDS);
    } catch {
      throw err;
    }
    log().warn('audit.deferred', { tenant_id: event.tenantId, type: event.type, detail: 'PostgreSQL did not take the event; it waits in the kv store and is appended when PostgreSQL answers again' });
  }
}

/**
 * Appends what waits (in no set order: `occurred_at` tells when each happened), and stops at the
 * first sign that PostgreSQL is still away. Nodes drain side by side: a claim (an atomic counter) gives each
 * event to one of them.
 */
export async function drainAuditOutbox(deps: Outbox): Promise<number> {
  const members = await deps.kv.smembers(indexKey(deps.kvPrefix));
  let appended = 0;
  for (const member of members) {
    const [tenantId, id] = member.split('/');
    if (!tenantId || !id) {
      await deps.kv.srem(indexKey(deps.kvPrefix), member);
      continue;
    }
    const claim = claimKey(deps.kvPrefix, tenantId, id);
    if ((await deps.kv.incr(claim, CLAIM_SECONDS)) !== 1) continue;
    const raw = await deps.kv.get(eventKey(deps.kvPrefix, tenantId, id));
    if (raw !== undefined) {
      const { event, occurredAt } = JSON.parse(raw) as Kept;
      try {
        await recordAuditNow(deps.db, { ...event, details: { ...event.details, occurred_at: occurredAt, recorded_late: true } });
        appended++;
      } catch (err) {
        if (isDbUnavailable(err)) {
          await deps.kv.del(claim);
          break;
        }
        // Nothing will ever take it (its tenant deleted meanwhile): said once, then let go.
        log().warn('audit.deferred_dropped', { tenant_id: tenantId, type: event.type, occurred_at: occurredAt, error: { name: (err as Error).name, code: (err as { code?: unknown }).code } });
      }
    }
    await deps.kv.del(eventKey(deps.kvPrefix, tenantId, id), claim);
    await deps.kv.srem(indexKey(deps.kvPrefix), member);
  }
  if (appended) log().info('audit.deferred_appended', { events: appended });
  return appended;
}

/** Every node drains on a timer; a drain failing (a store away) is tried again at the next tick. */
export function drainAuditOutboxEvery(deps: Outbox, ms = OUTBOX_DRAIN_INTERVAL_MS) {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    drainAuditOutbox(deps).catch(() => {}).finally(() => (running = false));
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}
