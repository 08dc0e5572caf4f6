import { generateTotpSecret, matchTotp } from '../../../src/domain/mfa/totp.js';
import { hasOathtool, oathtoolCode, rfc6238 } from '../../support/totp.js';

describe('TOTP (RFC 6238)', () => {
  it('matches the RFC 6238 appendix B vector (SHA-1, T=59 s) in the test generator', () => {
    // Seed "12345678901234567890" in base32; the RFC's 8-digit value 94287082 ends in 287082.
    expect(rfc6238('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000)).toBe('287082');
  });

  it('accepts the current and the adjacent steps of an independent generator, nothing further', async () => {
    const secret = generateTotpSecret();
    const now = Date.now();
    for (const offset of [-30, 0, 30]) expect(await matchTotp(secret, rfc6238(secret, now + offset * 1000), now)).toBeDefined();
    for (const offset of [-90, 90]) expect(await matchTotp(secret, rfc6238(secret, now + offset * 1000), now)).toBeUndefined();
    expect(await matchTotp(secret, 'abcdef', now)).toBeUndefined();
  });

  it('agrees with oathtool where it is installed', async () => {
    if (!hasOathtool()) return;
    const secret = generateTotpSecret();
    const before = rfc6238(secret);
    const code = oathtoolCode(secret);
    expect([before, rfc6238(secret)]).toContain(code); // a step may begin between the two
    expect(await matchTotp(secret, oathtoolCode(secret))).toBeDefined();
  });
});
