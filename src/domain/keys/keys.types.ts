export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA';
export const SIGNING_ALGS: SigningAlg[] = ['RS256', 'ES256', 'EdDSA'];

export interface SigningKey {
  tenantId: string;
  kid: string;
  alg: SigningAlg;
  status: 'current' | 'previous';
  publicJwk: Record<string, unknown>;
  createdAt: Date;
  rotatedAt: Date | null;
}
