import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HashPool } from './hash-pool.js';

/** bcrypt only takes the first 72 bytes; longer inputs are refused by policy instead of silently cut. */
export const MAX_PASSWORD_BYTES = 72;

/** The cost a bcrypt hash was made at (`$2a$`, `$2b$`, `$2y$`), or undefined for anything else. */
export function bcryptCost(hash: string): number | undefined {
  const match = /^\$2[aby]\$(\d\d)\$/.exec(hash);
  return match ? Number(match[1]) : undefined;
}

export class Passwords {
  readonly #pool = new HashPool();
  #dummy: Promise<string> | undefined;
  /** needsRehash's switch. */
  rehash = true;
  constructor(readonly cost: number) {}

  /**
   * Makes the dummy hash ahead of the first unknown user (the server calls this at start; a CLI
   * command that hashes nothing starts no hashing thread).
   */
  warm() {
    this.#dummy ??= this.#dummyHash();
  }

  /** If making it failed, the next unknown user makes it. */
  #dummyHash(): Promise<string> {
    const made = this.#pool.hash('gatehouse-dummy-password', this.cost);
    made.catch(() => {
      if (this.#dummy === made) this.#dummy = undefined;
    });
    return made;
  }

  hash(password: string): Promise<string> {
    return this.#pool.hash(password, this.cost);
  }

  /** Compares against the stored hash, or a dummy one so an unknown user costs the same time. */
  async verify(password: string, hash: string | null | undefined): Promise<boolean> {
    if (!hash) {
      await this.#pool.compare(password, await (this.#dummy ??= this.#dummyHash()));
      return false;
    }
    // `$2y$` (PHP's name for the same algorithm) is what the bcrypt package calls `$2b$`.
    return this.#pool.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
  }

  /**
   * Whether a hash that matched was made another way than this node makes one (at another cost
   * than `BCRYPT_COST`, the operator having changed it, or as `$2a$`/`$2y$` elsewhere): the sign-in
   * that proved the password makes a new one. Off in the bench, whose warm-up users are hashed at
   * a low cost on purpose.
   */
  needsRehash(hash: string): boolean {
    return this.rehash && bcryptCost(hash) !== undefined && !hash.startsWith(`$2b$${String(this.cost).padStart(2, '0')}$`);
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** A tenant's `password_policy` (DESIGN.md "Admin API"). */
export interface PasswordPolicy {
  min_length: number;
  /** Refuse the most common passwords (common-passwords.txt); on when left out. */
  block_common?: boolean;
}

/** Longer inputs are refused before anything else looks at them. */
export const MAX_PASSWORD_LENGTH = 1024;

let common: Set<string> | undefined;

/** The shipped list, read once on first use (about 10,000 entries, lower case). */
function commonPasswords(): Set<string> {
  if (!common) {
    const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'common-passwords.txt');
    common = new Set(readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  }
  return common;
}

export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(password.toLowerCase());
}

/**
 * The rule a password breaks, worded to follow "password" ("must be at least 8 characters",
 * "is one of the most common passwords"), or undefined when it passes. For every place a password
 * is chosen: admin create and set, reset, sign-up, account password change. A number is taken as
 * the minimum length alone (common passwords still refused).
 */
export function checkPasswordPolicy(password: string, policy: PasswordPolicy | number): string | undefined {
  const { min_length: minLength, block_common: blockCommon = true } = typeof policy === 'number' ? { min_length: policy } : policy;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if ([...password].length < minLength) return `must be at least ${minLength} characters`;
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return `must be at most ${MAX_PASSWORD_BYTES} bytes`;
  if (blockCommon && isCommonPassword(password)) return 'is one of the most common passwords';
  return undefined;
}
