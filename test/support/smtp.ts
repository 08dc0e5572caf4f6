import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface CaughtMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  /** Whether the connection was TLS (smtps://, or upgraded with STARTTLS) when the mail came. */
  secure: boolean;
  /** The user the client logged in as, if it did. */
  user?: string;
}

export interface CatcherOptions {
  /** smtps://: TLS from the first byte. */
  secure?: boolean;
  /** A certificate: with `secure` for smtps://, else offered through STARTTLS. Without, no STARTTLS. */
  tls?: { key: string; cert: string };
  /** Required login. */
  auth?: { user: string; pass: string };
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1 that keeps what it receives, for tests that follow
 * a mail's link. `url` is what SMTP_URL would be (config.smtpUrl).
 */
export class MailCatcher {
  readonly mails: CaughtMail[] = [];
  #server: SMTPServer | undefined;
  #port = 0;
  #waiters: { to: string; resolve: (m: CaughtMail) => void }[] = [];
  #taken = new Set<CaughtMail>();

  private constructor(private readonly options: CatcherOptions) {}

  static async start(options: CatcherOptions = {}) {
    const catcher = new MailCatcher(options);
    await catcher.#listen();
    return catcher;
  }

  get port() {
    return this.#port;
  }

  get url() {
    const auth = this.options.auth ? `${encodeURIComponent(this.options.auth.user)}:${encodeURIComponent(this.options.auth.pass)}@` : '';
    return `${this.options.secure ? 'smtps' : 'smtp'}://${auth}127.0.0.1:${this.#port}`;
  }

  /** The next mail to `to` not handed out yet, waiting up to `timeoutMs` for it. */
  next(to: string, timeoutMs = 5000): Promise<CaughtMail> {
    const found = this.mails.find((m) => !this.#taken.has(m) && m.to.includes(to.toLowerCase()));
    if (found) {
      this.#taken.add(found);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = { to: to.toLowerCase(), resolve: (m: CaughtMail) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no mail to ${to} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Every mail to `to` so far. */
  to(to: string) {
    return this.mails.filter((m) => m.to.includes(to.toLowerCase()));
  }

  /** Closes the port: connections are refused until `restart()`. */
  async stop() {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async restart() {
    await this.#listen(this.#port);
  }

  async #listen(port = 0) {
    const { secure, tls, auth } = this.options;
    const options: SMTPServerOptions = {
      secure: Boolean(secure),
      ...(tls ? { key: tls.key, cert: tls.cert } : {}),
      disabledCommands: tls ? [] : ['STARTTLS'],
      authOptional: !auth,
      allowInsecureAuth: false,
      logger: false,
      onAuth: (a, _session, callback) => {
        if (auth && a.username === auth.user && a.password === auth.pass) return callback(null, { user: a.username });
        callback(new Error('Invalid username or password'));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const mail = parseMail(Buffer.concat(chunks).toString('utf8'));
          this.#arrived({
            ...mail,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            secure: session.secure,
            user: typeof session.user === 'string' ? session.user : undefined,
          });
          callback();
        });
      },
    };
    const server = new SMTPServer(options);
    server.on('error', () => {}); // a client that hangs up is no test failure
    await new Promise<void>((resolve, reject) => {
      server.listen(port, '127.0.0.1', () => resolve());
      server.server.once('error', reject);
    });
    this.#server = server;
    this.#port = (server.server.address() as AddressInfo).port;
  }

  #arrived(mail: CaughtMail) {
    this.mails.push(mail);
    const waiter = this.#waiters.find((w) => mail.to.includes(w.to));
    if (waiter) {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      this.#taken.add(mail);
      waiter.resolve(mail);
    }
  }
}

/** The first link in a mail's text part that starts with `prefix`. */
export function linkIn(mail: CaughtMail, prefix: string): string {
  const link = mail.text.split(/\s+/).find((w) => w.startsWith(prefix));
  if (!link) throw new Error(`no link starting with ${prefix} in the mail`);
  return link;
}

/** A self-signed certificate for 127.0.0.1 and localhost (openssl), which is also its own CA. */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-smtp-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' });
    return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- a small MIME reader: enough for the mails nodemailer writes (multipart/alternative, QP, base64)

function parseMail(raw: string): Omit<CaughtMail, 'from' | 'to' | 'secure' | 'user'> {
  const { headers, body } = splitPart(raw);
  const parts = leafParts(headers, body);
  return {
    headers,
    subject: decodeWords(headers.subject ?? ''),
    text: parts.find((p) => p.type.startsWith('text/plain'))?.body ?? '',
    html: parts.find((p) => p.type.startsWith('text/html'))?.body ?? '',
  };
}

function splitPart(raw: string) {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function leafParts(headers: Record<string, string>, body: string): { type: string; body: string }[] {
  const type = (headers['content-type'] ?? 'text/plain').toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  if (type.startsWith('multipart/') && boundary) {
    return body.split(`--${boundary}`).slice(1).filter((p) => !p.startsWith('--')).flatMap((p) => {
      const part = splitPart(p.replace(/^\r?\n/, ''));
      return leafParts(part.headers, part.body);
    });
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const decoded = encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8')
    : encoding === 'quoted-printable' ? decodeQp(body)
      : body;
  return [{ type, body: decoded }];
}

function decodeQp(text: string) {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(soft[i], 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeWords(value: string) {
  return value.replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : decodeQp(text.replace(/_/g, ' ')));
}
