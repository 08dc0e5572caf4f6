import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey, createPublicKey, sign, type KeyObject, type SignKeyObjectInput } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';
import type { SigningAlg } from '../domain/keys/keys.types.js';

/** How node:crypto makes each JWS algorithm's signature (RFC 7518 §3, RFC 8037 §3.1). */
const SIGNERS: Record<SigningAlg, { digest: string | null; options: Omit<SignKeyObjectInput, 'key'> }> = {
  RS256: { digest: 'sha256', options: {} },
  // JWS wants R || S (RFC 7518 §3.4), not the DER sequence node:crypto makes by default.
  ES256: { digest: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { digest: null, options: {} },
};

/**
 * Runs a function in the async context this module was loaded in, at start-up, outside every
 * request (nothing imports it later, inside one).
 *
 * The signing job that node:crypto's `sign` starts on the thread pool carries the async context
 * it was started in. Inside a request, that context holds the request: oidc-provider's context
 * (Koa's `ctx`, with the request, the answer and their headers) and Gatehouse's log context. On
 * Node 24 the job kept that context for minor GCs long after it had answered. Each token
 * request was then promoted to the old generation whole: about 5 MB promoted per minor GC at a
 * steady half of the peak, and scavenges of 20–25 ms, which set the p99 of the token endpoint. Started
 * outside the request, a job keeps nothing of it: about 0.6 MB per minor GC (docs/BENCHMARKS.md,
 * twenty-fifth session). On Node 20 it makes no measurable difference.
 *
 * The job's callback only settles the promise `sign` returns. The code awaiting that promise
 * resumes in its own request's context, whatever context settled it.
 */
const outsideRequests = AsyncLocalStorage.snapshot();

/**
 * A tenant's private signing key as oidc-provider's `ExternalSigningKey` (feature
 * `externalSigningSupport`): the provider builds every JWS (ID Tokens, JWT access tokens, signed
 * userinfo and introspection answers) and hands us the bytes to sign.
 *
 * Why not the private JWK itself: the provider then signs through jose and WebCrypto, whose
 * argument checks cost the event loop about 80 µs per RSA signature on Node 20; node:crypto's
 * `sign` with a callback does the same PKCS #1 v1.5 / ECDSA / Ed25519 signature on libuv's thread
 * pool for about 35 µs of the event loop, measured alone (under the bench's full load the gain
 * is within its noise: docs/BENCHMARKS.md). The signature is the same: RS256
 * and EdDSA are deterministic, and each is checked against the public key in the tests.
 */
export class NativeSigningKey extends ExternalSigningKey {
  readonly #private: KeyObject;
  readonly #public: KeyObject;
  readonly #signer: (typeof SIGNERS)[SigningAlg];
  readonly #verifyOnly: boolean;

  /** `key_ops: ['verify']` in the JWK: published and verified with, never chosen to sign (a tenant's next key). */
  constructor({ key_ops: keyOps, ...jwk }: Record<string, unknown>) {
    super();
    const alg = jwk.alg as SigningAlg;
    if (!Object.hasOwn(SIGNERS, alg)) throw new Error(`unsupported signing algorithm ${String(alg)}`);
    if (typeof jwk.kid !== 'string' || !jwk.kid) throw new Error('a signing key needs a kid');
    this.#signer = SIGNERS[alg];
    this.#verifyOnly = Array.isArray(keyOps) && !keyOps.includes('sign');
    this.#private = createPrivateKey({ key: jwk as any, format: 'jwk' });
    this.#public = createPublicKey(this.#private);
    // The base class has setters for both; its type declares getters only.
    Object.assign(this as { kid?: string; alg?: string }, { kid: jwk.kid, alg });
  }

  /**
   * oidc-provider's key selection skips a key whose key_ops lack the operation (sign); its JWKS
   * publishes them. (The base class's type declares `undefined` only, hence the cast.)
   */
  override get key_ops(): undefined {
    return (this.#verifyOnly ? ['verify'] : undefined) as undefined;
  }

  /** The public half: what the JWKS publishes and what the provider verifies its own JWTs with. */
  keyObject() {
    return this.#public;
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    const { digest, options } = this.#signer;
    // The KeyObject itself where no option is needed (RS256, EdDSA): on Node 24 a key wrapped in
    // an options object costs the event loop about 28 µs more per signature (node:crypto checks
    // the wrapper for every kind of key first), as much as the rest of the call.
    const key = options.dsaEncoding ? { ...options, key: this.#private } : this.#private;
    return new Promise((resolve, reject) => {
      outsideRequests(() => sign(digest, data, key, (err, signature) => (err ? reject(err) : resolve(signature))));
    });
  }
}

/**
 * What `features.externalSigningSupport` acknowledges. oidc-provider refuses to build a provider
 * when its experiment's version moves on, which a minor release may do: package.json allows
 * patch releases of oidc-provider only (`~9.13.3`), and an upgrade checks this first.
 */
export const EXTERNAL_SIGNING = { enabled: true, ack: 'experimental-01' } as const;
