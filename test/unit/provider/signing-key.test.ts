import * as jose from 'jose';
import { NativeSigningKey } from '../../../src/provider/signing-key.js';

/** A JWS made the way oidc-provider makes one with an external key (helpers/jwt.js). */
async function jws(key: NativeSigningKey, payload: Record<string, unknown>) {
  const header = jose.base64url.encode(JSON.stringify({ alg: key.alg, kid: key.kid }));
  const body = jose.base64url.encode(JSON.stringify(payload));
  const signature = await key.sign(Buffer.from(`${header}.${body}`));
  return `${header}.${body}.${jose.base64url.encode(signature)}`;
}

async function privateJwk(alg: 'RS256' | 'ES256' | 'EdDSA') {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  return { ...(await jose.exportJWK(privateKey)), kid: `k-${alg}`, alg, use: 'sig' };
}

describe('NativeSigningKey', () => {
  it.each(['RS256', 'ES256', 'EdDSA'] as const)('signs %s that jose verifies with the public JWK it publishes', async (alg) => {
    const key = new NativeSigningKey(await privateJwk(alg));
    const published = { kty: key.kty, kid: key.kid, alg: key.alg, use: key.use, n: key.n, e: key.e, crv: key.crv, x: key.x, y: key.y };
    // What the provider publishes and verifies with is the public key, never the private one.
    expect(key.keyObject().type).toBe('public');
    expect(key.keyObject().export({ format: 'jwk' })).not.toHaveProperty('d');
    const token = await jws(key, { sub: 'a', iss: 'https://issuer.example' });
    const { payload, protectedHeader } = await jose.jwtVerify(token, await jose.importJWK(published as jose.JWK, alg), { issuer: 'https://issuer.example' });
    expect(payload.sub).toBe('a');
    expect(protectedHeader).toEqual({ alg, kid: `k-${alg}` });
    // Another key's signature does not verify (the check can fail).
    const other = new NativeSigningKey(await privateJwk(alg));
    await expect(jose.jwtVerify(await jws(other, { sub: 'a' }), await jose.importJWK(published as jose.JWK, alg))).rejects.toThrow(/signature/);
  });

  it('makes the same RS256 signature as jose does with the private JWK (PKCS #1 v1.5 is deterministic)', async () => {
    const jwk = await privateJwk('RS256');
    const data = Buffer.from('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0');
    const ours = Buffer.from(await new NativeSigningKey(jwk).sign(data));
    const theirs = await new jose.CompactSign(Buffer.from('{"sub":"a"}')).setProtectedHeader({ alg: 'RS256' }).sign(await jose.importJWK(jwk, 'RS256'));
    expect(ours.toString('base64url')).toBe(theirs.split('.')[2]);
  });

  it('refuses a key without kid or with an algorithm it cannot sign', async () => {
    const jwk = await privateJwk('RS256');
    expect(() => new NativeSigningKey({ ...jwk, kid: undefined })).toThrow(/kid/);
    expect(() => new NativeSigningKey({ ...jwk, alg: 'PS256' })).toThrow(/unsupported signing algorithm PS256/);
  });

});
