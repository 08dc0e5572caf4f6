import bcrypt from 'bcrypt';

/** bcrypt only takes the first 72 bytes; longer inputs are refused by policy instead of silently cut. */
export const MAX_PASSWORD_BYTES = 72;

export class Passwords {
  #dummy: Promise<string>;
  constructor(readonly cost: number) {
    this.#dummy = bcrypt.hash('gatehouse-dummy-password', cost);
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.cost);
  }

  /** Compares against the stored hash, or a dummy one so an unknown user costs the same time. */
  async verify(password: string, hash: string | null | undefined): Promise<boolean> {
    if (!hash) {
      await bcrypt.compare(password, await this.#dummy);
      return false;
    }
    return bcrypt.compare(password, hash);
  }
}

export function checkPasswordPolicy(password: string, minLength: number): string | undefined {
  if (password.length < minLength) return `must be at least ${minLength} characters`;
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return `must be at most ${MAX_PASSWORD_BYTES} bytes`;
  return undefined;
}
