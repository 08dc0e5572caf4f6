import { createHmac } from 'node:crypto';
import Keygrip from 'keygrip';
import { CookieKeys } from '../../../src/security/cookie-keys.js';

describe('signed-cookie keys', () => {
  const data = '_session.acme=Yv8kP2c3nJq0';

  it('signs as keygrip does by default (HMAC-SHA1, base64url without padding), so earlier cookies stay valid', () => {
    const keys = new CookieKeys(['current', 'previous']);
    const expected = createHmac('sha1', 'current').update(data).digest('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    expect(keys.sign(data)).toBe(expected);
    // What Koa used before: the cookies package turns an array of keys into a Keygrip.
    const keygrip = new Keygrip(['current', 'previous']);
    expect(keys.sign(data)).toBe(keygrip.sign(data));
    expect(keys.index(data, keygrip.sign(data))).toBe(0);
    expect(keygrip.index(data, keys.sign(data))).toBe(0);
  });

  it('verifies with every key and says which one signed', () => {
    const keys = new CookieKeys(['current', 'previous']);
    expect(keys.index(data, new CookieKeys(['previous']).sign(data))).toBe(1);
    expect(keys.verify(data, new CookieKeys(['previous']).sign(data))).toBe(true);
  });

  it.each([
    ['another key', new CookieKeys(['other']).sign(data)],
    ['other data', new CookieKeys(['current']).sign(`${data}x`)],
    ['one character changed', new CookieKeys(['current']).sign(data).replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))],
    ['a truncated signature', new CookieKeys(['current']).sign(data).slice(0, -1)],
    ['an empty signature', ''],
    ['padding added', `${new CookieKeys(['current']).sign(data)}=`],
  ])('refuses a signature made with %s', (_what, digest) => {
    const keys = new CookieKeys(['current']);
    expect(keys.index(data, digest)).toBe(-1);
    expect(keys.verify(data, digest)).toBe(false);
  });

  it('needs a key', () => {
    expect(() => new CookieKeys([])).toThrow(/at least one key/);
  });
});
