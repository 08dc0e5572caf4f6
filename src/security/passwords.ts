import { HashPool } from './hash-pool.js';

/** bcrypt only takes the first 72 bytes; longer inputs are refused by policy instead of silently cut. */
export const MAX_PASSWORD_BYTES = 72;

export class Passwords {
  readonly #pool = new HashPool();
  #dummy: Promise<string> | undefined;
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
    return this.#pool.compare(password, hash);
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

export function checkPasswordPolicy(password: string, minLength: number): string | undefined {
  if (password.length < minLength) return `must be at least ${minLength} characters`;
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return `must be at most ${MAX_PASSWORD_BYTES} bytes`;
  return undefined;
}
