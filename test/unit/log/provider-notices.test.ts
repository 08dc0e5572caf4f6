import { jest } from '@jest/globals';
import { logProviderNotices } from '../../../src/log/logger.js';
import { logLines } from '../../support/gatehouse.js';

// oidc-provider prints a notice on stdout the first time it uses a default (a revocation by
// another client, a CORS request), mid-traffic: among JSON log lines it must be one too.
describe('oidc-provider notices', () => {
  it('become provider.notice log lines, colour codes stripped; other console output passes through', () => {
    const info = jest.spyOn(console, 'info').mockImplementation(() => {});
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const restore = logProviderNotices();
    const before = logLines.length;
    try {
      console.info('oidc-provider NOTICE: default features.revocation.allowedPolicy function called, you SHOULD change it.');
      console.warn('\x1b[31;1moidc-provider WARNING: Unsupported runtime.\x1b[0m');
      console.info('something else');
    } finally {
      restore();
    }
    const lines = logLines.slice(before).map((l) => JSON.parse(l) as { message: string; level: string; detail: string });
    expect(lines).toEqual([
      expect.objectContaining({ message: 'provider.notice', level: 'info', detail: 'default features.revocation.allowedPolicy function called, you SHOULD change it.' }),
      expect.objectContaining({ message: 'provider.notice', level: 'warn', detail: 'Unsupported runtime.' }),
    ]);
    expect(info.mock.calls).toEqual([['something else']]);
    expect(warn).not.toHaveBeenCalled();
    info.mockRestore();
    warn.mockRestore();
  });
});
