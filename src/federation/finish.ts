import type { Context } from 'koa';
import { recordAudit, recordAuditNow } from '../audit/record.js';
import { isUniqueViolation, type Trx } from '../db/knex.js';
import type { Actor, Deps } from '../deps.js';
import { announceChange } from '../domain/changes.js';
import { findRolesByNames } from '../domain/rbac/rbac.queries.js';
import { issuerOf, type Tenant } from '../domain/tenants/tenants.types.js';
import { findUserById, findUserCredentialsByEmail, updateUser } from '../domain/users/users.queries.js';
import { createUser } from '../domain/users/users.service.js';
import type { User } from '../domain/users/users.types.js';
import { log } from '../log/logger.js';
import type { FederatedIdentity, FederationConnection } from './federation.types.js';
import {
  deleteUserRoleIds, findDirectRoleIds, findFederatedIdentity, insertFederatedIdentity, insertUserRoleIds, updateFederatedIdentityLogin,
} from './identities.queries.js';
import { renderFederationError } from './pages.js';
import { storeFederatedResult } from './result.js';

/** A federated login that must not go on; `reason` is for the audit trail only. */
export class FederationRefusal extends Error {
  constructor(readonly reason: string, readonly status = 403) {
    super(reason);
  }
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;
const text = (v: string | undefined, max = 200) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined);

interface Outcome {
  user: User;
  created: boolean;
  linked: boolean;
  rolesAdded: string[];
  rolesRemoved: string[];
}

/**
 * Ends a login whose upstream identity the protocol handler has verified: finds or provisions
 * the local user (DESIGN.md: linked by (connection, subject); an existing local account by email
 * only with `trust_email` and an upstream `email_verified: true`), updates the mapped profile and
 * group roles, audits, and sends the browser to the interaction with a single-use result handle.
 */
export async function finishFederatedLogin(ctx: Context, deps: Deps, tenant: Tenant, input: { interactionUid: string; connection: FederationConnection; identity: FederatedIdentity }) {
  const { connection, identity, interactionUid } = input;
  const label = `${connection.kind}/${connection.name}`;
  let outcome: Outcome;
  try {
    // Isolation: a connection of another tenant never logs anyone into this one.
    if (connection.tenantId !== tenant.id) throw new FederationRefusal('connection_of_another_tenant');
    if (!text(identity.subject, 1024)) throw new FederationRefusal('no_subject');
    outcome = await linkOrProvision(deps, tenant, connection, identity, { id: `federation:${label}`, ip: ctx.ip, userAgent: ctx.get('user-agent') || null });
  } catch (err) {
    if (!(err instanceof FederationRefusal)) throw err;
    return refuseFederatedLogin(ctx, deps, tenant, { connection: label, reason: err.reason, status: err.status, subject: identity.subject });
  }
  const amr = connection.upstreamMfaCounts && identity.upstreamMfa ? ['fed', 'mfa'] : ['fed'];
  const handle = await storeFederatedResult(deps, tenant.id, { interactionUid, accountId: outcome.user.id, amr, connection: label });
  log().info('federation.login.succeeded', { user_id: outcome.user.id, connection: label, created: outcome.created, linked: outcome.linked });
  ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(`${issuerOf(deps.config.publicUrl, tenant.slug)}/interaction/${encodeURIComponent(interactionUid)}/federated?result=${handle}`);
}

/** Audits a refused federated login and shows the generic page (protocol handlers call it too). */
export async function refuseFederatedLogin(ctx: Context, deps: Deps, tenant: Tenant, input: { connection: string; reason: string; status?: number; subject?: string; code?: string }) {
  log().info('federation.login.failed', { connection: input.connection, reason: input.reason, upstream_error: input.code });
  await recordAuditNow(deps.db, {
    tenantId: tenant.id, type: 'federation.login.failed', actor: null, subject: null, ip: ctx.ip, userAgent: ctx.get('user-agent') || null,
    outcome: 'failure', details: { connection: input.connection, reason: input.reason, ...(input.code ? { upstream_error: input.code } : {}), ...(input.subject ? { upstream_subject: input.subject.slice(0, 256) } : {}) },
  });
  renderFederationError(ctx, input.status ?? 403, tenant.name);
}

async function linkOrProvision(deps: Deps, tenant: Tenant, connection: FederationConnection, identity: FederatedIdentity, actor: Actor): Promise<Outcome> {
  // Two first logins of one identity at once: the loser's insert clashes, and its retry finds the link.
  for (let attempt = 0; ; attempt++) {
    try {
      return await deps.db.transaction((trx) => linkInTransaction(deps, trx, tenant, connection, identity, actor));
    } catch (err) {
      if (attempt === 0 && isUniqueViolation(err)) continue;
      throw err;
    }
  }
}

async function linkInTransaction(deps: Deps, trx: Trx, tenant: Tenant, connection: FederationConnection, identity: FederatedIdentity, actor: Actor): Promise<Outcome> {
  const key = { kind: connection.kind, name: connection.name, subject: identity.subject };
  const email = text(identity.email, 320);
  const validEmail = email && EMAIL.test(email) ? email : undefined;
  const profile = { name: text(identity.name), givenName: text(identity.givenName), familyName: text(identity.familyName) };
  const existing = await findFederatedIdentity(trx, tenant.id, key);
  let user: User | undefined;
  let created = false;
  let linked = false;
  if (existing) {
    user = await findUserById(trx, tenant.id, existing.userId);
    if (!user) throw new FederationRefusal('linked_user_missing');
    if (user.disabled) throw new FederationRefusal('user_disabled');
    user = await updateProfile(trx, tenant, user, profile, validEmail, identity.emailVerified === true, actor);
  } else {
    if (!validEmail) throw new FederationRefusal('no_email');
    const local = (await findUserCredentialsByEmail(trx, tenant.id, validEmail))?.user;
    if (local) {
      // No account takeover: an upstream that merely asserts someone's address gets nowhere.
      if (!connection.trustEmail) throw new FederationRefusal('email_in_use');
      if (identity.emailVerified !== true) throw new FederationRefusal('email_not_verified');
      if (local.disabled) throw new FederationRefusal('user_disabled');
      user = local;
      linked = true;
    } else {
      user = await createUser(deps, tenant, { email: validEmail, emailVerified: identity.emailVerified === true, ...profile }, actor, trx);
      created = true;
    }
  }
  const roles = await reevaluateRoles(trx, tenant, user.id, connection, identity.groups ?? [], existing?.mappedRoleIds ?? []);
  if (existing) await updateFederatedIdentityLogin(trx, tenant.id, key, roles.mapped);
  else await insertFederatedIdentity(trx, tenant.id, key, user.id, roles.mapped);
  if (roles.added.length || roles.removed.length) {
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'role.assigned', actor: actor.id, subject: `user:${user.id}`, ip: actor.ip, userAgent: actor.userAgent,
      details: { source: 'group_role_mapping', connection: `${connection.kind}/${connection.name}`, added: roles.added, removed: roles.removed },
    });
  }
  await recordAudit(trx, {
    tenantId: tenant.id, type: 'federation.login.succeeded', actor: `user:${user.id}`, subject: `user:${user.id}`, ip: actor.ip, userAgent: actor.userAgent,
    details: { connection: `${connection.kind}/${connection.name}`, created, linked, upstream_mfa: identity.upstreamMfa === true },
  });
  await announceChange(trx, tenant.id, 'users');
  return { user, created, linked, rolesAdded: roles.added, rolesRemoved: roles.removed };
}

/** The mapped profile replaces what is stored; an address another user has is left alone. */
async function updateProfile(trx: Trx, tenant: Tenant, user: User, profile: { name?: string; givenName?: string; familyName?: string }, email: string | undefined, verified: boolean, actor: Actor) {
  const changes: Parameters<typeof updateUser>[3] = {};
  if (profile.name !== undefined && profile.name !== user.name) changes.name = profile.name;
  if (profile.givenName !== undefined && profile.givenName !== user.givenName) changes.givenName = profile.givenName;
  if (profile.familyName !== undefined && profile.familyName !== user.familyName) changes.familyName = profile.familyName;
  if (email && email.toLowerCase() !== user.email.toLowerCase()) {
    const holder = (await findUserCredentialsByEmail(trx, tenant.id, email))?.user;
    if (!holder) Object.assign(changes, { email, emailVerified: verified });
    else log().warn('federation.email_not_updated', { user_id: user.id, reason: 'address_in_use' });
  } else if (verified && !user.emailVerified) changes.emailVerified = true;
  if (!Object.keys(changes).length) return user;
  const updated = (await updateUser(trx, tenant.id, user.id, changes))!;
  await recordAudit(trx, { tenantId: tenant.id, type: 'user.updated', actor: actor.id, subject: `user:${user.id}`, ip: actor.ip, userAgent: actor.userAgent, details: { fields: Object.keys(changes), source: 'federation' } });
  return updated;
}

/**
 * group_role_mapping, re-evaluated at every login: roles the mapping grants are added, roles it
 * granted before and no longer grants are removed. Only roles the mapping itself added are
 * tracked as mapped, so a role an admin assigned by hand is never taken away here.
 */
async function reevaluateRoles(trx: Trx, tenant: Tenant, userId: string, connection: FederationConnection, groups: string[], previous: string[]) {
  const names = [...new Set(groups.flatMap((g) => connection.groupRoleMapping[g] ?? []))];
  // A role deleted since the mapping was written is skipped, not an error.
  const wanted = await findRolesByNames(trx, tenant.id, names);
  const wantedIds = new Set(wanted.map((r) => r.id));
  const current = new Set(await findDirectRoleIds(trx, tenant.id, userId));
  const toAdd = wanted.filter((r) => !current.has(r.id));
  const toRemove = previous.filter((id) => !wantedIds.has(id) && current.has(id));
  await insertUserRoleIds(trx, tenant.id, userId, toAdd.map((r) => r.id));
  await deleteUserRoleIds(trx, tenant.id, userId, toRemove);
  const mapped = [...new Set([...previous.filter((id) => wantedIds.has(id) && current.has(id)), ...toAdd.map((r) => r.id)])].sort();
  const removedNames = toRemove.length ? (await trx('roles').where({ tenant_id: tenant.id }).whereIn('id', toRemove).select('name')).map((r: any) => r.name as string) : [];
  return { mapped, added: toAdd.map((r) => r.name).sort(), removed: removedNames.sort() };
}
