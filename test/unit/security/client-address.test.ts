import { clientAddress, normalizeAddress, trustedProxies } from '../../../src/security/client-address.js';

describe('client address behind trusted proxies', () => {
  const trusted = trustedProxies(['10.0.0.0/8', '::1/128', '127.0.0.0/8']);

  it('shows an IPv4-mapped IPv6 peer as the IPv4 address clients know', () => {
    expect(normalizeAddress('::ffff:127.0.0.22')).toBe('127.0.0.22');
    expect(normalizeAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeAddress('2001:db8::1')).toBe('2001:db8::1');
  });

  it('matches IPv4 and IPv6 CIDRs, and nothing when no proxy is configured', () => {
    expect(trusted('10.1.2.3')).toBe(true);
    expect(trusted('::1')).toBe(true);
    expect(trusted('11.0.0.1')).toBe(false);
    expect(trusted('not an address')).toBe(false);
    expect(trustedProxies([])('127.0.0.1')).toBe(false);
  });

  it.each([
    ['the peer when it is no proxy', '198.51.100.7', '203.0.113.9', '198.51.100.7'],
    ['the forwarded address from a trusted proxy', '::ffff:10.0.0.2', '203.0.113.9', '203.0.113.9'],
    ['the right-most untrusted address, not what the client wrote to the left', '10.0.0.2', '192.0.2.66, 203.0.113.9, 10.0.0.5', '203.0.113.9'],
    ['the left-most address when every hop is a proxy', '10.0.0.2', '10.0.0.9, 10.0.0.5', '10.0.0.9'],
    ['the last proxy when an entry is malformed', '10.0.0.2', '203.0.113.9, garbage', '10.0.0.2'],
    ['an address written with a port', '10.0.0.2', '203.0.113.9:4711', '203.0.113.9'],
    ['an IPv6 address written with brackets and a port', '10.0.0.2', '[2001:DB8::9]:443', '2001:db8::9'],
    ['the peer when no header came', '10.0.0.2', undefined, '10.0.0.2'],
  ])('is %s', (_what, peer, forwardedFor, expected) => {
    expect(clientAddress(peer, forwardedFor, trusted)).toBe(expected);
  });
});
