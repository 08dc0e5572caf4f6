// A mail catcher for trying Gatehouse's mails on one machine: an SMTP server on 127.0.0.1 that
// prints every message it receives (headers and text part) instead of delivering it.
//   node scripts/mail-catcher.mjs [port]      then start Gatehouse with SMTP_URL=smtp://127.0.0.1:1025
// Uses the smtp-server package (a dev dependency, installed by `npm install`).
import { SMTPServer } from 'smtp-server';

const port = Number(process.argv[2] ?? 1025);
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  banner: 'Gatehouse mail catcher',
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = raw.split(/\r?\n\r?\n/);
      const subject = /^Subject: (.*)$/im.exec(head)?.[1] ?? '';
      // The text part: what comes after the first text/plain part header, up to the next boundary.
      const text = /Content-Type: text\/plain[^]*?\r?\n\r?\n([^]*?)\r?\n--/i.exec(raw)?.[1] ?? rest.join('\n\n');
      const decoded = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));
      console.log(`\n--- mail to ${session.envelope.rcptTo.map((r) => r.address).join(', ')}: ${subject}\n${decoded.trim()}\n---`);
      callback();
    });
  },
});
server.listen(port, '127.0.0.1', () => console.log(`mail catcher on smtp://127.0.0.1:${port} (Ctrl-C to stop)`));
