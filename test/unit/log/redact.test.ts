import { redact } from '../../../src/log/logger.js';

describe('redact', () => {
  it('hides values of fields named like secrets, at any depth, and keeps counts, flags, error codes and fingerprints', () => {
    expect(redact({
      password: 'hunter2', client_secret: 's3cret', code: 'abc', nested: { refresh_token: 'rt', keep: 'x' }, list: [{ api_key: 'k' }],
      reencrypted: { 'signing_keys.private_jwk_encrypted': 3 }, key_fingerprint: '0a1b2c3d', has_secret: true,
      error: { name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
    })).toEqual({
      password: '[redacted]', client_secret: '[redacted]', code: '[redacted]', nested: { refresh_token: '[redacted]', keep: 'x' }, list: [{ api_key: '[redacted]' }],
      reencrypted: { 'signing_keys.private_jwk_encrypted': 3 }, key_fingerprint: '0a1b2c3d', has_secret: true,
      error: { name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
    });
  });
});
