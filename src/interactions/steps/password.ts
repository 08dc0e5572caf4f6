import { recordAuditOrKeep } from '../../audit/outbox.js';
import { recordAuditNow } from '../../audit/record.js';
import { hasSecondFactor } from '../../domain/mfa/mfa.service.js';
import { findUserById } from '../../domain/users/users.queries.js';
import { rehashIfStale, verifyPassword } from '../../domain/users/users.service.js';
import { log } from '../../log/logger.js';
import { observer } from '../../log/observe.js';
import { Lockout } from '../../security/lockout.js';
import { STEP_UP_REASON } from '../../provider/config/policy.js';
import { field, type StepContext } from '../flow.js';
import { nextStep } from '../policy.js';
import { discoverHomeRealm, federationButtons } from './federated.js';
import { throttleAttempt } from '../throttle.js';
import { text } from '../../views/text/index.js';

export const GENERIC_LOGIN_ERROR = text.login.incorrect;

export async function renderLogin(sc: StepContext, extra: { error?: string; email?: string; status?: number } = {}) {
  const { params } = sc.interaction;
  const client = await sc.provider.Client.find(String(params.client_id));
  const again = await signingInAgain(sc);
  sc.render('login', {
    title: text.login.title,
    clientName: client?.clientName ?? client?.clientId,
    action: `${sc.base}/login`,
    abort: `${sc.base}/abort`,
    signup: again ? undefined : sc.tenant.settings.registration.enabled ? `${sc.base}/signup` : undefined,
    forgot: `/t/${sc.tenant.slug}/password/forgot`,
    email: extra.email ?? (typeof params.login_hint === 'string' ? params.login_hint : again?.email ?? ''),
    notice: again?.notice,
    error: extra.error,
    federation: await federationButtons(sc),
  }, extra.status);
}

const AGAIN_REASONS = new Set([STEP_UP_REASON, 'login_prompt', 'max_age']);

/**
 * A browser already signed in that is asked to sign in again: the client asked for a second
 * factor the user has yet to set up (enrolling one always takes the password again, never the
 * session alone), or for a fresh sign-in (`prompt=login`, `max_age`). The form says why and
 * starts with the signed-in account's email, which stays editable: the browser's own session,
 * so nothing is revealed to anyone else.
 */
async function signingInAgain(sc: StepContext): Promise<{ email: string; notice: string } | undefined> {
  const { prompt, session } = sc.interaction;
  if (prompt.name !== 'login' || !session?.accountId) return undefined;
  // Not when the client names another user (id_token_hint, a sub claim): it wants that one.
  if (!prompt.reasons.every((reason) => AGAIN_REASONS.has(reason))) return undefined;
  const user = await findUserById(sc.deps.db, sc.tenant.id, session.accountId);
  if (!user || user.disabled) return undefined;
  // A user who has a factor only proves it after the password: the line is about setting one up.
  const stepUp = prompt.reasons.includes(STEP_UP_REASON) && !(await hasSecondFactor(sc.deps, sc.tenant, user.id));
  return { email: user.email, notice: stepUp ? text.login.againForSecondFactor : text.login.again };
}

/**
 * The password form. Every attempt is counted against the source address and the account
 * (rate limits), and a wrong password against the account's lockout; a locked account answers
 * exactly as a wrong password does (DESIGN.md: errors never reveal whether an account exists).
 */
export async function submitPassword(sc: StepContext) {
  const { deps, tenant } = sc;
  const email = field(sc.ctx, 'email', 320);
  const password = field(sc.ctx, 'password', 1024);
  if (await discoverHomeRealm(sc, email)) return;
  const throttled = await throttleAttempt(sc, { email });
  if (throttled) return renderLogin(sc, { error: throttled, email, status: 429 });
  const lockout = new Lockout(deps.kv, deps.kvPrefix);
  const result = await verifyPassword(deps, tenant, email, password);
  const state = result.user ? await lockout.state(tenant.id, result.user.id) : undefined;
  const locked = state?.locked ?? false;
  if (!result.ok || locked) {
    const reason = locked ? 'locked' : !result.ok ? result.reason : 'locked';
    log().info('login.failed', { reason, user_id: result.user?.id });
    observer()?.login(tenant.slug, 'failed');
    await recordAuditNow(deps.db, { ...sc.audit, type: 'login.failed', actor: result.user ? `user:${result.user.id}` : null, subject: result.user ? `user:${result.user.id}` : null, outcome: 'failure', details: { reason, client_id: sc.interaction.params.client_id } });
    if (result.user && !locked && reason === 'bad_password') await countFailure(sc, result.user.id);
    return renderLogin(sc, { error: GENERIC_LOGIN_ERROR, email, status: 401 });
  }
  await nextStep(sc, result.user.id, ['pwd'], { hasSecondFactor: result.hasSecondFactor, emailVerified: result.user.emailVerified, failuresOnRecord: state?.failures });
  rehashIfStale(deps, tenant, result.user.id, password, result.storedHash);
}

/** One failed credential of a known account (password, TOTP or recovery code) toward its lockout. */
export async function countFailure(sc: StepContext, userId: string) {
  const lockout = new Lockout(sc.deps.kv, sc.deps.kvPrefix);
  if (await lockout.recordFailure(sc.tenant.id, userId, sc.tenant.settings.lockout)) {
    // The lock is in the kv store already: its event waits there if PostgreSQL cannot take it.
    await recordAuditOrKeep(sc.deps, { ...sc.audit, type: 'account.locked', actor: 'system', subject: `user:${userId}`, details: { duration_seconds: sc.tenant.settings.lockout.duration_seconds } });
  }
}
