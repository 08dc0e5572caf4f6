import { randomBytes } from 'node:crypto';
import { Mailer, type OutgoingMail } from '../../../src/mail/mailer.js';
import { logLines } from '../../support/gatehouse.js';
import { MailCatcher, selfSignedCertificate } from '../../support/smtp.js';

const tls = selfSignedCertificate();
const catchers: MailCatcher[] = [];
const mailers: Mailer[] = [];

afterAll(async () => {
  await Promise.all(mailers.map((m) => m.close()));
  await Promise.all(catchers.map((c) => c.stop()));
});

async function catcher(options: Parameters<typeof MailCatcher.start>[0]) {
  const c = await MailCatcher.start(options);
  catchers.push(c);
  return c;
}
function mailer(config: ConstructorParameters<typeof Mailer>[0]) {
  const m = new Mailer(config);
  mailers.push(m);
  return m;
}

function resetMail(to: string): OutgoingMail & { token: string } {
  const token = randomBytes(32).toString('base64url');
  return {
    token, to, subject: 'Reset your password for Acme', template: 'password-reset',
    data: { tenantName: 'Acme & Co', email: to, link: `https://id.example.com/t/acme/password/reset?token=${token}`, minutes: 30 },
  };
}

describe('mail transport', () => {
  it('sends over smtps:// (TLS from the first byte) to a server whose certificate it trusts', async () => {
    const server = await catcher({ secure: true, tls });
    const m = mailer({ smtpUrl: server.url, smtpCa: tls.cert, mailFrom: 'Acme Login <login@acme.example>' });
    const mail = resetMail('tls@example.com');
    expect(await m.send(mail)).toBe(true);
    const got = await server.next('tls@example.com');
    expect(got.secure).toBe(true);
    expect(got.headers.from).toBe('Acme Login <login@acme.example>');
    expect(got.from).toBe('login@acme.example');
    expect(got.text).toContain(`https://id.example.com/t/acme/password/reset?token=${mail.token}`);
    expect(got.text).toContain('Acme & Co'); // the text part is not HTML-escaped
    expect(got.html).toContain('Acme &amp; Co');
  });

  it('upgrades smtp:// with STARTTLS when the server offers it, and logs in with the URL user', async () => {
    const server = await catcher({ tls, auth: { user: 'gatehouse', pass: 'p@ss:word/1' } });
    const m = mailer({ smtpUrl: server.url, smtpCa: tls.cert });
    const mail = resetMail('starttls@example.com');
    expect(await m.send(mail)).toBe(true);
    const got = await server.next('starttls@example.com');
    expect(got).toMatchObject({ secure: true, user: 'gatehouse' });
    expect(got.headers.from).toBe('Gatehouse <no-reply@localhost>');
  });

  it('sends plain SMTP to a server without STARTTLS', async () => {
    const server = await catcher({});
    const m = mailer({ smtpUrl: server.url });
    expect(await m.send(resetMail('plain@example.com'))).toBe(true);
    expect((await server.next('plain@example.com')).secure).toBe(false);
  });

  it('refuses a certificate it does not trust, and says so without the mail', async () => {
    const server = await catcher({ secure: true, tls });
    const m = mailer({ smtpUrl: server.url });
    const mail = resetMail('untrusted@example.com');
    expect(await m.send(mail)).toBe(false);
    expect(server.mails).toHaveLength(0);
    const failed = logLines.filter((l) => l.includes('"mail.failed"') && l.includes('untrusted@example.com'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).not.toContain(mail.token);
  });

  it('logs a mail without its link when SMTP_URL is unset', async () => {
    const m = mailer({});
    const mail = resetMail('logged@example.com');
    expect(await m.send(mail)).toBe(true);
    const logged = logLines.filter((l) => l.includes('"mail.logged"') && l.includes('logged@example.com'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0])).toMatchObject({ to: 'logged@example.com', subject: 'Reset your password for Acme' });
    expect(logged[0]).not.toContain(mail.token);
  });

  it('never writes a token to a log line', () => {
    expect(logLines.filter((l) => /token=[A-Za-z0-9_-]{20,}/.test(l))).toEqual([]);
  });
});
