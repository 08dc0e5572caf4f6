import { generateSecret, generateURI, verify } from 'otplib';

/** RFC 6238 with the authenticator apps' defaults: SHA-1, 6 digits, 30 s steps. */
export const TOTP_PERIOD = 30;

/** A new base32 seed of 160 bits (RFC 4226 §4 recommends at least 128, 160 for SHA-1). */
export function generateTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function totpUri(issuer: string, label: string, secret: string): string {
  return generateURI({ issuer, label, secret });
}

/**
 * The time step a code matches, one step either side of now (DESIGN.md: ±1 step), or undefined.
 * The caller records the step so each code is accepted once (RFC 6238 §5.2).
 */
export async function matchTotp(secret: string, code: string, now = Date.now()): Promise<number | undefined> {
  if (!/^\d{6}$/.test(code)) return undefined;
  const result = await verify({ secret, token: code, epoch: Math.floor(now / 1000), epochTolerance: TOTP_PERIOD });
  // The matched period's start, as a step number (the TOTP result carries it; HOTP's would not).
  return result.valid && 'epoch' in result ? Math.floor(result.epoch / TOTP_PERIOD) : undefined;
}
