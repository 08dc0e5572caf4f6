import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// `npm start` and the image run dist/: the compiled code must find views/mail (and the other data
// files) where the sources do. `npm test` builds dist/ first (pretest).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

it('renders every mail from the compiled build, as npm start and the image do', () => {
  const compiled = path.join(root, 'dist/src/mail/templates.js');
  expect(existsSync(compiled)).toBe(true);
  const script = `
    const { renderMail } = await import(${JSON.stringify(compiled)});
    const out = {};
    for (const t of ['verify-email', 'password-reset']) out[t] = renderMail(t, { link: 'https://example.test/LINK', tenantName: 'Acme', minutes: 30, hours: 24, name: 'Bob' });
    process.stdout.write(JSON.stringify(out));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }));
  for (const mail of Object.values(out) as { text: string; html: string }[]) {
    expect(mail.text).toContain('https://example.test/LINK');
    expect(mail.html).toContain('https://example.test/LINK');
  }
});

it('finds the common-password list from the compiled build', () => {
  const compiled = path.join(root, 'dist/src/security/passwords.js');
  const script = `const { isCommonPassword } = await import(${JSON.stringify(compiled)}); process.stdout.write(String(isCommonPassword('password123')));`;
  expect(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })).toBe('true');
});
