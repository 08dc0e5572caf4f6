import { ConfigError, loadConfig } from '../../../src/config/load.js';

describe('MAIL_FROM', () => {
  it('defaults to Gatehouse <no-reply@localhost>', () => {
    expect(loadConfig({}).mailFrom).toBe('Gatehouse <no-reply@localhost>');
  });

  it.each(['no-reply@example.com', 'Example Login <login@example.com>', '"Example, Inc." <login@mail.example.com>'])('takes %j', (value) => {
    expect(loadConfig({ MAIL_FROM: value }).mailFrom).toBe(value);
  });

  it.each(['no-reply', 'Gatehouse <no-reply>', 'a@b.co\r\nBcc: victim@example.com', 'Name <a@b.co', 'two words@example.com', 'a@b.co, c@d.co'])(
    'stops with one line naming MAIL_FROM for %j', (value) => {
      expect(() => loadConfig({ MAIL_FROM: value })).toThrow(ConfigError);
      expect(() => loadConfig({ MAIL_FROM: value })).toThrow(/^Invalid configuration: MAIL_FROM must be an address such as no-reply@example.com/);
      try {
        loadConfig({ MAIL_FROM: value });
      } catch (err) {
        expect((err as Error).message).not.toContain('\n');
      }
    });
});
