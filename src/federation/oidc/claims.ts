import type { ClaimMapping } from '../../domain/oidc-connections/oidc-connections.types.js';
import type { FederatedIdentity } from '../federation.types.js';

/** RFC 8176 methods that mean a second factor was used upstream. */
const MFA_METHODS = new Set(['mfa', 'otp', 'hwk', 'swk', 'sms', 'sc', 'fpt', 'face', 'iris', 'retina', 'vbm', 'pop']);

const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

/** A claim at a name, or at a dotted path (`realm_access.roles`) when there is none by that name. */
function claimAt(claims: Record<string, unknown>, name: string): unknown {
  if (name in claims) return claims[name];
  return name.split('.').reduce<unknown>((v, part) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined), claims);
}

/** Groups arrive as an array, or as one string (space- or comma-separated lists are not split). */
function groupsOf(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return [...new Set(list.map(str).filter((g): g is string => Boolean(g)).map((g) => g.slice(0, 256)))].slice(0, 500);
}

/**
 * The upstream's claims as Gatehouse's identity (DESIGN.md "OIDC federation": `claim_mapping` maps
 * upstream claims to email, name, given_name, family_name, groups). The subject is always `sub`.
 */
export function identityFromClaims(claims: Record<string, unknown>, mapping: ClaimMapping): FederatedIdentity {
  const at = (claim: keyof ClaimMapping) => claimAt(claims, mapping[claim] ?? claim);
  const verified = claims.email_verified;
  const amr = Array.isArray(claims.amr) ? claims.amr.map(String) : [];
  return {
    subject: String(claims.sub),
    email: str(at('email')),
    emailVerified: verified === true || verified === 'true',
    name: str(at('name')),
    givenName: str(at('given_name')),
    familyName: str(at('family_name')),
    groups: groupsOf(at('groups')),
    upstreamMfa: amr.some((m) => MFA_METHODS.has(m)),
  };
}

/** Whether the ID token lacks a mapped claim that the userinfo endpoint may carry. */
export function missingMappedClaims(claims: Record<string, unknown>, mapping: ClaimMapping) {
  return (['email', 'name', 'groups'] as const).some((c) => claimAt(claims, mapping[c] ?? c) === undefined);
}
