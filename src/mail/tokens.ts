import { randomBytes } from 'node:crypto';
import type { Db, Trx } from '../db/knex.js';
import { canNameRow } from '../db/knex.js';
import type { Secrets } from '../security/secrets.js';

/** What a mailed link may do; each has its own lifetime (DESIGN.md "Self-service"). */
export type MailTokenPurpose = 'verify_email' | 'password_reset';

export const MAIL_TOKEN_TTL_SECONDS: Record<MailTokenPurpose, number> = {
  verify_email: 24 * 3600,
  password_reset: 30 * 60,
};

export interface MailTokenRecord {
  tenantId: string;
  userId: string;
  /** The address the link was mailed to: the link does nothing once the user's address changed. */
  emailNormalized: string;
  purpose: MailTokenPurpose;
  expiresAt: Date;
}

/** 32 random bytes, base64url (43 characters): what a link carries. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** Hashed under the one-time-code key and bound to its purpose: a reset token never verifies. */
const hashOf = (secrets: Secrets, purpose: MailTokenPurpose, token: string) => secrets.hashOneTimeCode(`mail:${purpose}`, token);

const toRecord = (row: any): MailTokenRecord => ({
  tenantId: row.tenant_id, userId: row.user_id, emailNormalized: row.email_normalized, purpose: row.purpose, expiresAt: new Date(row.expires_at),
});

/**
 * Stores a new token for a user and returns it: the only time it exists in clear. Spent and
 * expired tokens of the same user and purpose go at the same time.
 */
export async function insertMailToken(db: Db | Trx, secrets: Secrets, ref: { tenantId: string; userId: string; emailNormalized: string }, purpose: MailTokenPurpose): Promise<string> {
  const token = randomBytes(32).toString('base64url'); // 256 bits
  const now = Date.now();
  await db('mail_tokens')
    .where({ tenant_id: ref.tenantId, user_id: ref.userId, purpose })
    .andWhere((q) => q.whereNotNull('used_at').orWhere('expires_at', '<=', new Date(now)))
    .delete();
  await db('mail_tokens').insert({
    tenant_id: ref.tenantId,
    token_hash: hashOf(secrets, purpose, token),
    purpose,
    user_id: ref.userId,
    email_normalized: ref.emailNormalized,
    expires_at: new Date(now + MAIL_TOKEN_TTL_SECONDS[purpose] * 1000),
  });
  return token;
}

/** The token's record while it may still be used (unused, unexpired), without using it. */
export async function findUsableMailToken(db: Db | Trx, secrets: Secrets, tenantId: string, purpose: MailTokenPurpose, token: string) {
  if (!TOKEN_SHAPE.test(token) || !canNameRow(token)) return undefined;
  const row = await db('mail_tokens')
    .where({ tenant_id: tenantId, token_hash: hashOf(secrets, purpose, token), purpose })
    .whereNull('used_at')
    .andWhere('expires_at', '>', new Date())
    .first();
  return row ? toRecord(row) : undefined;
}

/**
 * Uses the token: one conditional UPDATE (compare-and-set on `used_at`), so of two requests racing
 * with the same link exactly one gets the record. Inside the caller's transaction, a rollback of
 * the action also gives the token back.
 */
export async function consumeMailToken(db: Db | Trx, secrets: Secrets, tenantId: string, purpose: MailTokenPurpose, token: string) {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const [row] = await db('mail_tokens')
    .where({ tenant_id: tenantId, token_hash: hashOf(secrets, purpose, token), purpose })
    .whereNull('used_at')
    .andWhere('expires_at', '>', new Date())
    .update({ used_at: new Date() })
    .returning('*');
  return row ? toRecord(row) : undefined;
}

/** Every other outstanding token of a user for a purpose (a reset spends the other reset links). */
export async function deleteMailTokensOfUser(db: Db | Trx, tenantId: string, userId: string, purpose: MailTokenPurpose) {
  await db('mail_tokens').where({ tenant_id: tenantId, user_id: userId, purpose }).whereNull('used_at').delete();
}

/** Rows past their lifetime by a day (kept that long only so a late click is answered the same). */
export async function deleteExpiredMailTokens(db: Db) {
  return db('mail_tokens').where('expires_at', '<', new Date(Date.now() - 24 * 3600_000)).delete();
}
