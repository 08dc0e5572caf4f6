import { text } from '../../views/text/index.js';
import { recordAuditNow } from '../../audit/record.js';
import { findUserById } from '../../domain/users/users.queries.js';
import { findConnectionByEmailDomain, findConnectionByName, listConnections, startPath } from '../../federation/connections.js';
import { consumeFederatedResult } from '../../federation/result.js';
import { log } from '../../log/logger.js';
import type { StepContext } from '../flow.js';
import { nextStep } from '../policy.js';

/** "Sign in with …" buttons of the login page: one per connection of this tenant. */
export async function federationButtons(sc: StepContext) {
  const connections = await listConnections(sc.deps.db, sc.tenant.id, sc.cache);
  return connections.map((c) => ({ label: c.displayName, kind: c.kind, name: c.name, href: startPath(sc.tenant.slug, c, sc.interaction.uid) }));
}

function redirect(sc: StepContext, path: string) {
  sc.ctx.status = 303;
  sc.ctx.set('Cache-Control', 'no-store');
  sc.ctx.redirect(path);
}

/** `idp_hint=${name}` skips the login page; an unknown name shows it as usual. */
export async function followIdpHint(sc: StepContext): Promise<boolean> {
  const hint = sc.interaction.params.idp_hint;
  if (typeof hint !== 'string' || !hint) return false;
  const connection = await findConnectionByName(sc.deps.db, sc.tenant.id, hint);
  if (!connection) return false;
  const loginHint = typeof sc.interaction.params.login_hint === 'string' ? sc.interaction.params.login_hint : undefined;
  redirect(sc, startPath(sc.tenant.slug, connection, sc.interaction.uid, loginHint));
  return true;
}

/**
 * Home-realm discovery: an email whose domain belongs to a connection goes to that connection
 * and its password (if any was typed) is not checked. True when the browser was sent there.
 */
export async function discoverHomeRealm(sc: StepContext, email: string): Promise<boolean> {
  const connection = email ? await findConnectionByEmailDomain(sc.deps.db, sc.tenant.id, email, sc.cache) : undefined;
  if (!connection) return false;
  redirect(sc, startPath(sc.tenant.slug, connection, sc.interaction.uid, email.trim()));
  return true;
}

/**
 * `${issuer}/interaction/${uid}/federated?result=…`: where a federated login comes back. The
 * result is taken once, and only under the interaction it was made for (the browser's
 * interaction cookie proves that: login CSRF); then the tenant's policy decides what follows
 * (second factor, enrollment, verified email), as after a password.
 */
export async function resumeFederated(sc: StepContext) {
  const handle = typeof sc.ctx.query.result === 'string' ? sc.ctx.query.result : '';
  const result = await consumeFederatedResult(sc.deps, sc.tenant.id, handle);
  const refuse = async (reason: string) => {
    log().info('federation.login.failed', { reason });
    await recordAuditNow(sc.deps.db, { ...sc.audit, type: 'federation.login.failed', outcome: 'failure', subject: result?.accountId ? `user:${result.accountId}` : null, details: { reason, connection: result?.connection ?? null } });
    sc.render('error', { title: text.federation.failedTitle, heading: text.federation.failedTitle, message: text.federation.refused }, 400);
  };
  if (!result) return refuse('result_unknown');
  if (result.interactionUid !== sc.interaction.uid) return refuse('result_of_another_interaction');
  const user = await findUserById(sc.deps.db, sc.tenant.id, result.accountId);
  if (!user || user.disabled) return refuse('user_disabled');
  await nextStep(sc, result.accountId, result.amr);
}
