import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWTPayload } from 'jose';
import type { Deps } from '../deps.js';
import { kvKey } from '../kv/store.js';
import { Problem } from './problem.js';

/** What every tenant's token endpoint takes for DPoP proofs (oidc-provider's default), so a key bound there works here. */
export const DPOP_ALGS = ['ES256', 'Ed25519', 'EdDSA'];
/** RFC 9449 §11.1: a proof is fresh this long either side of now (clock skew); its jti is kept while it could be replayed. */
const IAT_WINDOW_SECONDS = 60;

const refuse = (code: 'invalid_token' | 'invalid_dpop_proof', detail: string) =>
  new Problem(401, code, detail, undefined, { 'WWW-Authenticate': `DPoP error="${code}", algs="${DPOP_ALGS.join(' ')}"` });

/**
 * RFC 9449 §7.1: an access token bound to a key (`cnf.jkt`) is good only as `Authorization: DPoP`
 * with a proof by that key for this very request, never as a bearer token; a token bound to
 * nothing is a bearer token only. `token` and `payload` have been verified by the caller.
 */
export async function checkTokenBinding(deps: Pick<Deps, 'config' | 'kv' | 'kvPrefix'>, ctx: Context, tenantId: string, scheme: 'bearer' | 'dpop', token: string, payload: JWTPayload) {
  const cnf = payload.cnf as { jkt?: unknown } | undefined;
  if (cnf === undefined) {
    if (scheme === 'dpop') throw refuse('invalid_token', 'This access token is not bound to a key: send it as a Bearer token.');
    return;
  }
  // A confirmation this API cannot check (mTLS x5t#S256) is refused rather than ignored.
  if (typeof cnf.jkt !== 'string') throw refuse('invalid_token', 'This access token is bound in a way the admin API does not support.');
  if (scheme !== 'dpop') throw refuse('invalid_token', 'This access token is bound to a key: send it as Authorization: DPoP with a DPoP proof.');
  await checkProof(deps, ctx, tenantId, token, cnf.jkt);
}

/** RFC 9449 §4.3, the checks of a DPoP proof (no server nonce is asked for). */
async function checkProof(deps: Pick<Deps, 'config' | 'kv' | 'kvPrefix'>, ctx: Context, tenantId: string, token: string, jkt: string) {
  const proof = ctx.get('dpop');
  if (!proof) throw refuse('invalid_dpop_proof', 'A DPoP proof header is required with this access token.');
  let payload: JWTPayload;
  let jwk: Parameters<typeof calculateJwkThumbprint>[0];
  try {
    // EmbeddedJWK takes only a public key; `algorithms` only asymmetric ones.
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGS });
    ({ payload } = verified);
    jwk = verified.protectedHeader.jwk!;
  } catch {
    throw refuse('invalid_dpop_proof', 'The DPoP proof is malformed or its signature does not verify.');
  }
  if ((await calculateJwkThumbprint(jwk, 'sha256')) !== jkt) throw refuse('invalid_dpop_proof', 'The DPoP proof is not signed by the key this access token is bound to.');
  if (payload.htm !== ctx.method) throw refuse('invalid_dpop_proof', 'The DPoP proof is for another HTTP method.');
  // The admin API lives at ${PUBLIC_URL}/admin/v1: that is the URL clients sign, whatever the request's Host.
  const htu = withoutQuery(payload.htu);
  if (!htu || htu !== withoutQuery(`${deps.config.publicUrl}${ctx.path}`)) throw refuse('invalid_dpop_proof', 'The DPoP proof is for another URL.');
  if (payload.ath !== sha256(token)) throw refuse('invalid_dpop_proof', 'The DPoP proof is for another access token.');
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > IAT_WINDOW_SECONDS) throw refuse('invalid_dpop_proof', 'The DPoP proof is not fresh.');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw refuse('invalid_dpop_proof', 'The DPoP proof has no usable jti.');
  // RFC 9449 §11.1: each proof once, on every node (the kv store is shared); counted atomically.
  const key = kvKey(deps.kvPrefix, tenantId, 'dpop', 'jti', sha256(`${jkt}\n${payload.jti}`));
  if ((await deps.kv.incr(key, 2 * IAT_WINDOW_SECONDS + 1)) > 1) throw refuse('invalid_dpop_proof', 'This DPoP proof was already used.');
}

function sha256(text: string) {
  return createHash('sha256').update(text).digest('base64url');
}

/** RFC 9449 §4.3: htu is compared without query and fragment, after the URL's normal form. */
function withoutQuery(uri: unknown) {
  if (typeof uri !== 'string') return undefined;
  try {
    const url = new URL(uri);
    return `${url.origin}${url.pathname}`;
  } catch {
    return undefined;
  }
}
