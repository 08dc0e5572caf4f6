import { findSessionsOfUser } from '../../domain/sessions/sessions.queries.js';
import { revokeUserSessions } from '../../domain/sessions/sessions.service.js';
import type { SessionsEnded } from '../../domain/sessions/sessions.types.js';
import { endSession } from '../session.js';
import { field, renderAccountPage, type Account } from '../page.js';
import { text } from '../../views/text/index.js';

export async function renderSessions(account: Account, extra: { notice?: string; error?: string; status?: number } = {}) {
  const sessions = await findSessionsOfUser(account.deps.db, account.tenant.id, account.user.id);
  account.render('account-sessions', {
    title: text.account.sessions.title, section: 'sessions', ...extra,
    sessions: sessions.map((s) => ({ ...s, current: s.id === account.session.id })),
  }, extra.status);
}

/**
 * Ends one of the user's own sessions with its grants and refresh tokens, through the service the
 * admin API uses (audited session.revoked with the user as actor, back-channel logout to its
 * clients). Ending this browser's own session signs the account pages out too.
 */
export async function submitRevoke(account: Account, ended: SessionsEnded) {
  const sessionId = field(account.ctx, 'revoke', 200);
  const revoked = sessionId ? await revokeUserSessions(account.deps, account.tenant, account.user.id, account.actor, sessionId, ended) : undefined;
  if (revoked === undefined) return renderSessions(account, { error: text.account.sessions.alreadyEnded, status: 404 });
  if (sessionId === account.session.id) {
    endSession(account.ctx, account.deps, account.tenant);
    return renderAccountPage(account.ctx, account.tenant, 'account-signed-out', { title: text.account.signedOut, heading: text.account.signedOut, message: text.account.sessions.endedThis, again: `${account.base}/login` });
  }
  await renderSessions(account, { notice: text.account.sessions.ended });
}
