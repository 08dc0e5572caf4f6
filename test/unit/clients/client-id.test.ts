import { newClientId } from '../../../src/domain/clients/clients.service.js';

describe('generated client ids', () => {
  it('are 128 random bits in base64url that never start with "-" or "_" (a command line would read an option)', () => {
    const ids = Array.from({ length: 5000 }, () => newClientId());
    // Without the rule about one in 32 would start with one of them: 5,000 ids all but surely include some.
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
