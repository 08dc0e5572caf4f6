import { ConfigError, loadConfig } from '../../../src/config/load.js';

describe('configuration', () => {
  it('has the embedded defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, publicUrl: 'http://localhost:3000', dataDir: './data', bcryptCost: 12, logLevel: 'info' });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.trustProxy).toEqual([]); // no proxy: the peer address is the client
  });
  it.each([
    ['loopback', ['127.0.0.0/8', '::1/128']],
    ['10.0.0.0/8, 192.168.1.7 ,fd00::/8', ['10.0.0.0/8', '192.168.1.7/32', 'fd00::/8']],
    ['2001:db8::1,loopback', ['2001:db8::1/128', '127.0.0.0/8', '::1/128']],
  ])('reads TRUST_PROXY %j as CIDRs', (value, cidrs) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(cidrs);
  });
  it('reads REDIS_CLUSTER_NODES as host:port pairs, beside REDIS_URL', () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: 'redis-0.redis:6379, 10.0.0.7:7000,[fd00::1]:6380', REDIS_URL: 'redis://x:6379' });
    expect(c.redisClusterNodes).toEqual(['redis-0.redis:6379', '10.0.0.7:7000', '[fd00::1]:6380']);
    expect(loadConfig({}).redisClusterNodes).toBeUndefined();
  });
  it.each([
    [{ PORT: 'abc' }, /PORT/],
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379' }, /^Invalid configuration: REDIS_CLUSTER_NODES must be comma-separated host:port pairs .*"redis:\/\/a:6379" is not one\)$/],
    [{ REDIS_CLUSTER_NODES: 'a:6379,b' }, /REDIS_CLUSTER_NODES .*"b"/],
    [{ REDIS_CLUSTER_NODES: 'a:70000' }, /REDIS_CLUSTER_NODES .*"a:70000"/],
    [{ REDIS_CLUSTER_NODES: ' , ' }, /REDIS_CLUSTER_NODES must be comma-separated host:port pairs/],
    [{ PUBLIC_URL: 'http://x.example/' }, /PUBLIC_URL must not end with a slash/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ GATEHOUSE_MASTER_KEY: 'short' }, /GATEHOUSE_MASTER_KEY must be 32 bytes/],
    [{ NODE_ENV: 'production' }, /GATEHOUSE_MASTER_KEY is required/],
    [{ GATEHOUSE_MASTER_KEY_PREVIOUS: 'c2hvcnQ=' }, /^Invalid configuration: GATEHOUSE_MASTER_KEY_PREVIOUS must be 32 bytes, base64-encoded/],
    [{ BCRYPT_COST: '3' }, /BCRYPT_COST/],
    [{ GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL: 'a@b.co' }, /GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD/],
    [{ TRUST_PROXY: 'proxy.example.com' }, /^Invalid configuration: TRUST_PROXY must be comma-separated CIDRs .*"proxy\.example\.com" is neither$/],
    [{ TRUST_PROXY: '10.0.0.0/33' }, /TRUST_PROXY .*"10\.0\.0\.0\/33"/],
    [{ TRUST_PROXY: '10.0.0/8' }, /TRUST_PROXY/],
    [{ TRUST_PROXY: '::1/129' }, /TRUST_PROXY/],
    [{ TRUST_PROXY: '10.0.0.0/8,,x' }, /TRUST_PROXY .*"x"/],
    [{ TRUST_PROXY: '10.0.0.0/8/1' }, /TRUST_PROXY/],
    [{ TRUST_PROXY: 'loopback6' }, /TRUST_PROXY/],
  ])('stops with one line naming the variable for %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
