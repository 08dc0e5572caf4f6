import { parseCidr } from '../../../src/config/cidr.js';
import { isSpecialUse, OutboundPolicy } from '../../../src/security/outbound.js';

const policy = (...blocks: string[]) => new OutboundPolicy(blocks.map((b) => parseCidr(b)!));

describe('outbound policy', () => {
  it.each(['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', '2001:db8::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '[::1]', 'localhost', 'example.com'])(
    'counts %s as special-use (or as no address at all)', (address) => {
      expect(isSpecialUse(address)).toBe(true);
      expect(policy().allows(address)).toBe(false);
    });

  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '192.169.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])('lets a public address through: %s', (address) => {
    expect(isSpecialUse(address)).toBe(false);
    expect(policy().allows(address)).toBe(true);
  });

  it('opens exactly the allowed blocks and no other special-use address', () => {
    const p = policy('127.0.0.1/32', '10.20.0.0/16', 'fd00:1::/32');
    expect(p.allows('127.0.0.1')).toBe(true);
    expect(p.allows('::ffff:127.0.0.1')).toBe(true);
    expect(p.allows('127.0.0.2')).toBe(false);
    expect(p.allows('::1')).toBe(false);
    expect(p.allows('10.20.255.1')).toBe(true);
    expect(p.allows('10.21.0.1')).toBe(false);
    expect(p.allows('192.168.0.1')).toBe(false);
    expect(p.allows('fd00:1:ffff::5')).toBe(true);
    expect(p.allows('fd00:2::5')).toBe(false);
    expect(p.allows('8.8.8.8')).toBe(true);
  });

  it('keeps the families apart: an IPv6 block opens no IPv4 address', () => {
    const p = policy('::/0');
    expect(p.allows('::1')).toBe(true);
    expect(p.allows('127.0.0.1')).toBe(false);
    expect(p.allows('::ffff:127.0.0.1')).toBe(false);
    expect(policy('::ffff:127.0.0.0/104').allows('127.9.9.9')).toBe(true);
  });
});
