import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The signer of oidc-provider's signed cookies (its `cookies.keys`, which Koa hands to the
 * `cookies` package in place of a keygrip). The signatures are keygrip's defaults, HMAC-SHA1 in
 * base64url without padding, so cookies signed before stay valid and keys rotate as keygrip's
 * do: the first key signs, every key verifies.
 *
 * What differs is the check. keygrip compares through tsscmp, which draws a random key and
 * computes two more HMACs to compare two strings, so every signed cookie read cost three HMACs
 * and a random draw, on most requests of a login. Here the expected signature is computed once
 * and compared with crypto.timingSafeEqual, which is constant-time for equal lengths; the
 * length of a signature is public.
 */
export class CookieKeys {
  readonly #keys: readonly string[];

  constructor(keys: readonly string[]) {
    if (!keys.length) throw new Error('CookieKeys needs at least one key');
    this.#keys = [...keys];
  }

  sign(data: string): string {
    return signWith(this.#keys[0], data);
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** The position of the key that signed `data` as `digest`, or -1. */
  index(data: string, digest: string): number {
    const given = Buffer.from(String(digest), 'utf8');
    for (let i = 0; i < this.#keys.length; i++) {
      const expected = Buffer.from(signWith(this.#keys[i], data), 'utf8');
      if (given.length === expected.length && timingSafeEqual(given, expected)) return i;
    }
    return -1;
  }
}

const signWith = (key: string, data: string) => createHmac('sha1', key).update(data).digest('base64url');
