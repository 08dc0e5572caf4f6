export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA';
export const SIGNING_ALGS: SigningAlg[] = ['RS256', 'ES256', 'EdDSA'];

export interface SigningKey {
  tenantId: string;
  kid: string;
  alg: SigningAlg;
  /** next: published in JWKS, signing nothing yet (the one a rotation makes current); previous: signed until a rotation. */
  status: 'next' | 'current' | 'previous';
  publicJwk: Record<string, unknown>;
  createdAt: Date;
  rotatedAt: Date | null;
}
