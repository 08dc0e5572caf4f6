import { identityFromClaims, missingMappedClaims } from '../../../src/federation/oidc/claims.js';

describe('upstream claims as a Gatehouse identity', () => {
  it('reads mapped claims, dotted paths and the standard names otherwise', () => {
    const identity = identityFromClaims(
      { sub: 'u1', mail: 'a@x.example', email: 'other@x.example', name: 'A', given_name: 'Ay', realm_access: { roles: ['ops', 'dev', 'ops'] }, email_verified: true },
      { email: 'mail', groups: 'realm_access.roles' },
    );
    expect(identity).toMatchObject({ subject: 'u1', email: 'a@x.example', name: 'A', givenName: 'Ay', groups: ['ops', 'dev'], emailVerified: true, upstreamMfa: false });
  });

  it('takes email_verified only when true (or "true"), and a single group string as one group', () => {
    expect(identityFromClaims({ sub: 's', email_verified: 'false', groups: 'admins' }, {})).toMatchObject({ emailVerified: false, groups: ['admins'] });
    expect(identityFromClaims({ sub: 's', email_verified: 'true' }, {}).emailVerified).toBe(true);
    expect(identityFromClaims({ sub: 's', email_verified: 1 }, {}).emailVerified).toBe(false);
  });

  it('sees upstream MFA in amr (RFC 8176) only', () => {
    expect(identityFromClaims({ sub: 's', amr: ['pwd'] }, {}).upstreamMfa).toBe(false);
    expect(identityFromClaims({ sub: 's', amr: ['pwd', 'otp'] }, {}).upstreamMfa).toBe(true);
    expect(identityFromClaims({ sub: 's', acr: 'mfa' }, {}).upstreamMfa).toBe(false);
  });

  it('asks userinfo only when a mapped claim is missing from the ID token', () => {
    expect(missingMappedClaims({ sub: 's', email: 'e', name: 'n', groups: [] }, {})).toBe(false);
    expect(missingMappedClaims({ sub: 's', email: 'e', name: 'n' }, {})).toBe(true);
  });
});
