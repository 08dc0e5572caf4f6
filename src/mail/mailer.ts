import nodemailer, { type Transporter } from 'nodemailer';
import { DEFAULT_MAIL_FROM, type Config } from '../config/load.js';
import { log } from '../log/logger.js';
import { renderMail, type MailTemplate } from './templates.js';

export interface OutgoingMail {
  to: string;
  subject: string;
  template: MailTemplate;
  /** Template data; may hold a link with a token, so it is never logged. */
  data: Record<string, unknown>;
}

/** How long a send may wait for the SMTP server, so a dead server costs a bounded background task. */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/**
 * Outgoing mail (DESIGN.md "Configuration": SMTP_URL, MAIL_FROM). `smtp://` speaks plain SMTP and
 * upgrades with STARTTLS when the server offers it; `smtps://` is TLS from the first byte; a
 * user:pass in the URL logs in. The server's certificate is checked against the system CAs plus
 * NODE_EXTRA_CA_CERTS (a private CA) or, for embedders and tests, `config.smtpCa`.
 * Without SMTP_URL a mail is logged (recipient and subject, never its body: links carry tokens).
 *
 * Nothing here throws at the caller: a failed send is logged (`mail.failed`) and the action that
 * wanted it stands; the user can ask for another mail.
 */
export class Mailer {
  readonly #transport: Transporter | undefined;
  readonly #from: string;
  readonly #pending = new Set<Promise<void>>();

  constructor(config: Pick<Config, 'smtpUrl' | 'mailFrom' | 'smtpCa'>) {
    this.#from = config.mailFrom ?? DEFAULT_MAIL_FROM;
    this.#transport = config.smtpUrl
      ? nodemailer.createTransport({ url: config.smtpUrl, ...TIMEOUTS, ...(config.smtpCa ? { tls: { ca: config.smtpCa } } : {}) } as Parameters<typeof nodemailer.createTransport>[0])
      : undefined;
  }

  /** True when the server took the mail (or it was logged); false when sending failed. */
  async send(mail: OutgoingMail): Promise<boolean> {
    const meta = { to: mail.to, subject: mail.subject, template: mail.template };
    try {
      const body = renderMail(mail.template, mail.data);
      if (!this.#transport) {
        log().info('mail.logged', { ...meta, detail: 'SMTP_URL is not set: the mail was not sent' });
        return true;
      }
      const info = await this.#transport.sendMail({ from: this.#from, to: mail.to, subject: mail.subject, text: body.text, html: body.html });
      log().info('mail.sent', { ...meta, message_id: info.messageId });
      return true;
    } catch (err) {
      // Only the class of failure: an SMTP reply may quote what was sent.
      const e = err as { name?: string; code?: string; responseCode?: number; command?: string };
      log().warn('mail.failed', { ...meta, error: { name: e?.name, reason: e?.code, smtp_status: e?.responseCode, command: e?.command } });
      return false;
    }
  }

  /**
   * Runs `task` after the current request has answered (so its timing reveals nothing about it),
   * logging a failure under `what`. `idle()` waits for every such task.
   */
  background(what: string, task: () => Promise<void>): void {
    const run: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(task)
      .catch((err) => void log().error(`${what}.failed`, { error: { name: (err as Error)?.name, message: (err as Error)?.message } }))
      .finally(() => this.#pending.delete(run));
    this.#pending.add(run);
  }

  /** Resolves once no background task is running (tests; shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }

  /** Waits a little for tasks in flight, then closes the SMTP connections. */
  async close(waitMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    this.#transport?.close();
  }
}
