import { ConfigError, loadConfig } from '../../../src/config/load.js';

describe('OUTBOUND_ALLOW', () => {
  it('is empty by default: no special-use address is reachable', () => {
    expect(loadConfig({}).outboundAllow).toEqual([]);
  });

  it('takes comma-separated IPv4 and IPv6 blocks, and a single address as a host block', () => {
    expect(loadConfig({ OUTBOUND_ALLOW: '10.0.0.0/8, fd00::/8,127.0.0.1,::1/128,' }).outboundAllow).toEqual([
      { address: '10.0.0.0', prefix: 8 },
      { address: 'fd00::', prefix: 8 },
      { address: '127.0.0.1', prefix: 32 },
      { address: '::1', prefix: 128 },
    ]);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', 'localhost', '10.0.0/8', '10.0.0.0/8/1', '10.0.0.0/-1', '10.0.0.0/', 'fe80::1%eth0/64', '10.0.0.0/8;192.168.0.0/16'])(
    'stops the start with one line naming the variable and the bad entry for %j',
    (value) => {
      expect(() => loadConfig({ OUTBOUND_ALLOW: value })).toThrow(ConfigError);
      expect(() => loadConfig({ OUTBOUND_ALLOW: value })).toThrow(/^Invalid configuration: OUTBOUND_ALLOW must be comma-separated CIDRs .*is not one\)$/);
    },
  );
});
