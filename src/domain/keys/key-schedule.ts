import { tryAdvisoryXactLock } from '../../db/advisory-lock.js';
import type { Actor, Deps } from '../../deps.js';
import { log } from '../../log/logger.js';
import { findTenantById, lockTenant } from '../tenants/tenants.queries.js';
import { DEFAULT_TENANT_SETTINGS } from '../tenants/tenants.types.js';
import { findTenantsWithKeyWork } from './keys.queries.js';
import { masterKeyOpensCheckValue } from './master-key-check.js';
import { KEY_SKEW_SECONDS, retireSigningKeysIn, rotateSigningKeyIn, stageNextKeysIn } from './keys.service.js';

/** Who rotates on schedule, in the audit trail. */
export const SCHEDULER_ACTOR: Actor = { id: 'system:scheduler' };
/** How often each node looks for due work, unless config.keySchedule says otherwise. */
export const KEY_SCHEDULE_INTERVAL_MS = 5 * 60_000;
const LOCK_SCOPE = 'gatehouse.key_schedule';
/** The first pass runs between this and twice this after start (or at the interval, if shorter). */
const FIRST_PASS_MS = 15_000;
/**
 * How long one pass may spend publishing next keys for tenants that need nothing else; the rest
 * wait for the next pass. The first pass after an upgrade finds every tenant without a next key:
 * each costs an RSA key generation, so without a bound one node would spend minutes of a core on
 * a 10,000-tenant deployment in one go.
 */
export const STAGE_BUDGET_MS = 30_000;

type ScheduleDeps = Pick<Deps, 'db' | 'secrets' | 'config'>;
type KeyWork = Awaited<ReturnType<typeof findTenantsWithKeyWork>>[number];

/**
 * One pass of the signing-key schedule (DESIGN.md "Operations": keys rotate on schedule on
 * exactly one node at a time). Every node runs it; for each due tenant a node takes the tenant's
 * advisory lock inside a transaction, checks again under it (another node may have just done the
 * work and committed), rotates, retires and publishes next keys as due, and commits: the lock
 * ends with the transaction,
 * so a node that dies mid-way leaves nothing held. Rotations and retirements come first and are
 * never put off; publishing next keys alone stops once the pass has run `stageBudgetMs` (at least
 * one tenant is staged per pass, so the work always advances). Returns what this node did.
 */
export async function runKeySchedule(deps: ScheduleDeps) {
  const skew = deps.config.keySchedule?.skewSeconds ?? KEY_SKEW_SECONDS;
  const defaults = { days: DEFAULT_TENANT_SETTINGS.key_rotation_days, accessTtl: DEFAULT_TENANT_SETTINGS.access_token_ttl, idTtl: DEFAULT_TENANT_SETTINGS.id_token_ttl, sessionTtl: DEFAULT_TENANT_SETTINGS.session_ttl };
  const budgetMs = deps.config.keySchedule?.stageBudgetMs ?? STAGE_BUDGET_MS;
  const started = Date.now();
  const due = await findTenantsWithKeyWork(deps.db, defaults, skew);
  const stageOnly = (w: KeyWork) => !w.rotate && !w.retire;
  due.sort((a: KeyWork, b: KeyWork) => Number(stageOnly(a)) - Number(stageOnly(b))); // stable: urgent work first
  const done = { rotated: [] as string[], retired: [] as string[], staged: [] as string[], deferred: 0 };
  for (const [i, work] of due.entries()) {
    if (stageOnly(work) && done.staged.length > 0 && Date.now() - started >= budgetMs) {
      done.deferred = due.length - i; // all the rest are stage-only
      break;
    }
    const { tenantId } = work;
    await deps.db.transaction(async (trx) => {
      if (!(await tryAdvisoryXactLock(trx, LOCK_SCOPE, tenantId))) return; // another node has it
      // Then the tenant row, as every rotation does: an admin's rotation committed meanwhile is seen below.
      if (!(await lockTenant(trx, tenantId))) return;
      const [still] = await findTenantsWithKeyWork(trx, defaults, skew, tenantId);
      const tenant = still && (await findTenantById(trx, tenantId));
      if (!still || !tenant) return;
      if (still.rotate) {
        await rotateSigningKeyIn(deps, trx, tenant, undefined, SCHEDULER_ACTOR); // retires what is due, publishes next keys
        done.rotated.push(tenantId);
        return;
      }
      if (still.retire && (await retireSigningKeysIn(deps, trx, tenant, SCHEDULER_ACTOR))) done.retired.push(tenantId);
      if (still.stage && (await stageNextKeysIn(deps, trx, tenant, SCHEDULER_ACTOR))) done.staged.push(tenantId);
    });
  }
  return done;
}

/** Runs runKeySchedule every interval on this node until stopped; a failed pass (an outage) is logged and retried next time. */
export function scheduleKeyRotation(deps: ScheduleDeps) {
  const intervalMs = deps.config.keySchedule?.intervalMs ?? KEY_SCHEDULE_INTERVAL_MS;
  let running: Promise<unknown> | undefined;
  const tick = () => {
    if (running) return; // a slow pass is not overlapped by the next
    // Not while this node's master key does not open the check value (a master-key rotation under
    // way): a key made now would be sealed under the old key in a tenant already re-encrypted.
    running = masterKeyOpensCheckValue(deps)
      .then((fits) => (fits ? runKeySchedule(deps) : undefined))
      .then((done) => {
        if (done && (done.rotated.length || done.retired.length || done.staged.length)) {
          log().info('key.schedule', { rotated: done.rotated.length, retired: done.retired.length, staged: done.staged.length, deferred: done.deferred });
        }
      })
      .catch((err) => log().warn('key.schedule_failed', { error: { name: err?.name, code: err?.code, message: err?.message } }))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  // A first pass soon after start, not a whole interval later: a fleet whose nodes live shorter
  // than the interval (frequent rollouts, autoscaling) would otherwise never run the schedule.
  // Spread over a few seconds so nodes started together do not all ask at once.
  const first = setTimeout(tick, deps.config.keySchedule?.firstPassMs ?? Math.min(intervalMs, FIRST_PASS_MS + Math.random() * FIRST_PASS_MS));
  first.unref();
  return {
    async stop() {
      clearInterval(timer);
      clearTimeout(first);
      await running;
    },
  };
}
