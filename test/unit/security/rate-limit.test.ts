import { MemoryStore } from '../../../src/kv/memory.js';
import { addressKey, onRateLimited, RateLimits, type RateLimitName } from '../../../src/security/rate-limit.js';

let kv: MemoryStore;
let limits: RateLimits;
const policy = { limit: 3, window_seconds: 60 };

beforeEach(() => {
  kv = new MemoryStore();
  limits = new RateLimits(kv, 'ghunit:');
});
afterEach(() => kv.close());

describe('rate limits', () => {
  it('allows `limit` events in a window, then refuses with the seconds left in it', async () => {
    for (let i = 0; i < 3; i++) expect(await limits.consume('t1', 'login_per_ip', ['10.0.0.1'], policy)).toEqual({ allowed: true });
    const refused = await limits.consume('t1', 'login_per_ip', ['10.0.0.1'], policy);
    expect(refused.allowed).toBe(false);
    expect(!refused.allowed && refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(!refused.allowed && refused.retryAfterSeconds).toBeLessThanOrEqual(60);
  });

  it('keeps tenants, limits and keys apart', async () => {
    for (let i = 0; i < 3; i++) await limits.consume('t1', 'login_per_ip', ['10.0.0.1'], policy);
    expect((await limits.consume('t2', 'login_per_ip', ['10.0.0.1'], policy)).allowed).toBe(true);
    expect((await limits.consume('t1', 'login_per_account', ['10.0.0.1'], policy)).allowed).toBe(true);
    expect((await limits.consume('t1', 'login_per_ip', ['10.0.0.2'], policy)).allowed).toBe(true);
    // A ':' inside a part cannot make two different part lists the same key.
    for (let i = 0; i < 3; i++) await limits.penalty('t1', 'client_auth_failures', ['a:b', 'c'], policy);
    expect((await limits.peek('t1', 'client_auth_failures', ['a', 'b:c'], policy)).allowed).toBe(true);
  });

  it('counts only failures with peek and penalty', async () => {
    const key = ['client-1', '10.0.0.1'];
    for (let i = 0; i < 5; i++) expect((await limits.peek('t1', 'client_auth_failures', key, policy)).allowed).toBe(true);
    await limits.penalty('t1', 'client_auth_failures', key, policy);
    await limits.penalty('t1', 'client_auth_failures', key, policy);
    expect((await limits.peek('t1', 'client_auth_failures', key, policy)).allowed).toBe(true);
    await limits.penalty('t1', 'client_auth_failures', key, policy);
    expect((await limits.peek('t1', 'client_auth_failures', key, policy)).allowed).toBe(false);
  });

  it('applies a changed limit to the count so far, and limit 0 turns it off', async () => {
    for (let i = 0; i < 3; i++) await limits.consume('t1', 'mail_per_address', ['a@example.com'], policy);
    expect((await limits.consume('t1', 'mail_per_address', ['a@example.com'], { ...policy, limit: 10 })).allowed).toBe(true);
    expect((await limits.consume('t1', 'mail_per_address', ['a@example.com'], { ...policy, limit: 2 })).allowed).toBe(false);
    for (let i = 0; i < 5; i++) expect((await limits.consume('t1', 'mail_per_address', ['a@example.com'], { ...policy, limit: 0 })).allowed).toBe(true);
  });

  it('counts a login attempt per address and per account, and spares the account when the address is refused', async () => {
    const settings = { login_per_ip: { limit: 2, window_seconds: 60 }, login_per_account: { limit: 3, window_seconds: 60 } };
    expect((await limits.loginAttempt('t1', settings, { ip: '::ffff:10.0.0.1', account: 'u1' })).allowed).toBe(true);
    expect((await limits.loginAttempt('t1', settings, { ip: '10.0.0.1', account: 'u1' })).allowed).toBe(true);
    // The same address, written as IPv4-mapped or not, is one source.
    expect((await limits.loginAttempt('t1', settings, { ip: '10.0.0.1', account: 'u1' })).allowed).toBe(false);
    expect((await limits.loginAttempt('t1', settings, { ip: '10.0.0.2', account: 'u1' })).allowed).toBe(true);
    expect((await limits.loginAttempt('t1', settings, { ip: '10.0.0.3', account: 'u1' })).allowed).toBe(false);
    expect((await limits.loginAttempt('t1', settings, { ip: '10.0.0.3', account: 'u2' })).allowed).toBe(true);
  });

  it('tells listeners which limit refused', async () => {
    const heard: RateLimitName[] = [];
    const off = onRateLimited((name) => heard.push(name));
    for (let i = 0; i < 4; i++) await limits.consume('t1', 'admin', ['client:x'], policy);
    off();
    await limits.consume('t1', 'admin', ['client:x'], policy);
    expect(heard).toEqual(['admin']);
  });
});

describe('addressKey', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::FFFF:127.0.0.2', '127.0.0.2'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0000:ffff:1:2:3', '2001:db8:0:0::/64'],
    ['2001:db8:1:2::1.2.3.4', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('%s counts as %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });
});
