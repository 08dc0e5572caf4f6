import { randomBytes } from 'node:crypto';
import { recordAudit } from '../../audit/record.js';
import type { Actor, Deps } from '../../deps.js';
import { kvKey } from '../../kv/store.js';
import { totpSeedAad } from '../../security/sealed-columns.js';
import { revokeUserSessions } from '../sessions/sessions.service.js';
import type { SessionsEnded } from '../sessions/sessions.types.js';
import type { Tenant } from '../tenants/tenants.types.js';
import {
  countUnusedRecoveryCodes, deleteMfaOfUser, deleteTotpFactor, findTotpFactor, insertConfirmedTotp, replaceRecoveryCodes, useRecoveryCode,
} from './mfa.queries.js';
import { generateTotpSecret, matchTotp, TOTP_PERIOD, totpUri } from './totp.js';
import { assertSealingKeyCurrent } from '../keys/master-key-check.js';

export const RECOVERY_CODE_COUNT = 10;
const RECOVERY_PURPOSE = 'recovery-code';
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no 0/o, 1/l/i: read off paper

type MfaDeps = Pick<Deps, 'db' | 'secrets' | 'kv' | 'kvPrefix'>;
const seedAad = totpSeedAad; // security/sealed-columns.ts: the master key rotation re-encrypts with it

/** Whether the user has a confirmed second factor (a TOTP seed proven once). */
export async function hasSecondFactor(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string) {
  return Boolean((await findTotpFactor(deps.db, tenant.id, userId))?.confirmedAt);
}

/**
 * A fresh seed for one enrollment, sealed with the master key. It is kept only by the flow that
 * shows it (an interaction, an account page form) until a code proves it; nothing is stored for
 * the user before that, so no other browser ever sees or confirms this seed.
 */
export function beginTotpEnrollment(deps: Pick<Deps, 'secrets'>, tenant: Tenant, user: { id: string; email: string }) {
  const secret = generateTotpSecret();
  return { secret, sealed: deps.secrets.encrypt(secret, seedAad(tenant.id, user.id)), uri: totpUri(tenant.name, user.email, secret) };
}

/** The seed of a sealed enrollment again (to show it once more after a wrong code). */
export function openTotpEnrollment(deps: Pick<Deps, 'secrets'>, tenant: Tenant, user: { id: string; email: string }, sealed: string) {
  const secret = deps.secrets.decrypt(sealed, seedAad(tenant.id, user.id));
  return { secret, sealed, uri: totpUri(tenant.name, user.email, secret) };
}

/** Accepts a code once: the time step it matched is recorded in the shared store (every node). */
async function acceptTotp(deps: MfaDeps, tenant: Tenant, userId: string, sealed: string, code: string) {
  const step = await matchTotp(deps.secrets.decrypt(sealed, seedAad(tenant.id, userId)), code);
  if (step === undefined) return false;
  // RFC 6238 §5.2: a code verified once must not be accepted again (kept past the ±1 step window).
  // The code is part of the key, so a new seed's first code (after a reset) is not taken for a replay.
  const uses = await deps.kv.incr(kvKey(deps.kvPrefix, tenant.id, 'totp-used', userId, `${step}.${code}`), TOTP_PERIOD * 4);
  return uses === 1;
}

/**
 * Proves a sealed seed with a code: the factor becomes active and a new sheet of recovery codes is
 * made. Returns the codes (shown once), or undefined when the code does not match or the user has
 * an active factor already.
 */
export async function confirmTotpEnrollment(deps: MfaDeps, tenant: Tenant, userId: string, sealed: string, code: string, actor: Actor) {
  if (!(await acceptTotp(deps, tenant, userId, sealed, code))) return undefined;
  return deps.db.transaction(async (trx) => {
    await assertSealingKeyCurrent(trx, deps.secrets);
    if (!(await insertConfirmedTotp(trx, tenant.id, userId, sealed))) return undefined;
    const codes = await storeRecoveryCodes(deps, trx, tenant, userId);
    await recordAudit(trx, { tenantId: tenant.id, type: 'mfa.enrolled', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent, details: { factor: 'totp' } });
    return codes;
  });
}

async function storeRecoveryCodes(deps: Pick<Deps, 'secrets'>, trx: Deps['db'], tenant: Tenant, userId: string) {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await replaceRecoveryCodes(trx, tenant.id, userId, codes.map((c) => deps.secrets.hashOneTimeCode(RECOVERY_PURPOSE, normalizeRecoveryCode(c))));
  return codes;
}

/** A new sheet replaces the old one (every unused code of it stops working). */
export async function renewRecoveryCodes(deps: MfaDeps, tenant: Tenant, userId: string, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    const codes = await storeRecoveryCodes(deps, trx, tenant, userId);
    await recordAudit(trx, { tenantId: tenant.id, type: 'mfa.recovery_renewed', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent });
    return codes;
  });
}

/** 10 characters of a 31-letter alphabet (~50 bits), shown as xxxxx-xxxxx. */
function newRecoveryCode() {
  const bytes = randomBytes(10);
  const chars = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

export const normalizeRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]/g, '');

export type SecondFactorResult =
  | { ok: true; method: 'totp' }
  | { ok: true; method: 'recovery_code'; remaining: number }
  | { ok: false; reason: 'no_factor' | 'bad_code' | 'replayed_or_bad_code' };

/** One attempt at the code form: a TOTP code (6 digits) or one of the user's recovery codes. */
export async function verifySecondFactor(deps: MfaDeps, tenant: Tenant, userId: string, input: string): Promise<SecondFactorResult> {
  const factor = await findTotpFactor(deps.db, tenant.id, userId);
  if (!factor?.confirmedAt) return { ok: false, reason: 'no_factor' };
  const code = input.trim().replace(/\s/g, '');
  if (/^\d{6}$/.test(code)) {
    return (await acceptTotp(deps, tenant, userId, factor.secretEncrypted, code)) ? { ok: true, method: 'totp' } : { ok: false, reason: 'replayed_or_bad_code' };
  }
  const normalized = normalizeRecoveryCode(code);
  if (normalized.length !== 10) return { ok: false, reason: 'bad_code' };
  const used = await useRecoveryCode(deps.db, tenant.id, userId, deps.secrets.hashOneTimeCode(RECOVERY_PURPOSE, normalized));
  if (!used) return { ok: false, reason: 'bad_code' };
  return { ok: true, method: 'recovery_code', remaining: await countUnusedRecoveryCodes(deps.db, tenant.id, userId) };
}

/** The user removes their own TOTP factor (and the recovery codes that came with it). */
export async function removeTotp(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    const removed = await deleteTotpFactor(trx, tenant.id, userId);
    await replaceRecoveryCodes(trx, tenant.id, userId, []);
    if (removed) await recordAudit(trx, { tenantId: tenant.id, type: 'mfa.removed', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent, details: { factor: 'totp' } });
    return removed > 0;
  });
}

/**
 * An admin reset (a lost or stolen phone): the user enrols again at the next login that needs a
 * factor. Sessions and refresh tokens made with the old factor end with it (`ended` tells clients).
 */
export async function resetMfa(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, actor: Actor, ended?: SessionsEnded) {
  const removed = await deps.db.transaction(async (trx) => {
    const removed = await deleteMfaOfUser(trx, tenant.id, userId);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'mfa.reset', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent,
      details: { factors: removed.factors, recovery_sheet_entries: removed.recoveryCodes }, // "code" keys are redacted
    });
    return removed;
  });
  await revokeUserSessions(deps, tenant, userId, actor, undefined, ended);
  return removed;
}
