import { jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { freshDatabase } from '../../support/gatehouse.js';

// List and read commands print what the admin API answers (--json) or readable lines.
let db: Awaited<ReturnType<typeof freshDatabase>>;
const masterKey = randomBytes(32).toString('base64');

function gatehouse(args: string[], input?: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_MASTER_KEY: masterKey, BCRYPT_COST: '4' };
  if (db.url) env.DATABASE_URL = db.url;
  else env.GATEHOUSE_DATA_DIR = db.dataDir;
  const res = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), ...args], { env, input, encoding: 'utf8', timeout: 180_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr.split('\n').filter((l) => l && !l.includes('oidc-provider WARNING')).join('\n') };
}
const json = (args: string[]) => {
  const res = gatehouse([...args, '--json']);
  expect([args.join(' '), res.code, res.stderr]).toEqual([args.join(' '), 0, '']);
  return JSON.parse(res.stdout);
};

jest.setTimeout(300_000); // a dozen CLI runs, each a fresh process, on a loaded machine

let clientId: string;
let userId: string;
beforeAll(async () => {
  db = await freshDatabase();
  json(['tenant', 'create', 'read-acme', '--name', 'Acme']);
  json(['tenant', 'create', 'read-beta']);
  clientId = json(['client', 'create', '--tenant', 'read-acme', '--name', 'Web', '--redirect-uri', 'https://app.example.com/cb']).client_id;
  userId = JSON.parse(gatehouse(['user', 'create', '--tenant', 'read-acme', '--email', 'alice@example.com', '--password-stdin', '--name', 'Alice', '--json'], 'a good long password\n').stdout).id;
  gatehouse(['user', 'create', '--tenant', 'read-acme', '--email', 'bob@example.com', '--password', 'another long password', '--name', 'Bob']);
}, 600_000);
afterAll(() => db.drop());

describe('gatehouse list and show commands', () => {
  it('tenant list pages like the admin API: {items, next_cursor}', () => {
    const first = json(['tenant', 'list', '--limit', '2']);
    expect(first.items.map((t: { slug: string }) => t.slug)).toEqual(['read-acme', 'read-beta']);
    expect(first.items[0]).toMatchObject({ name: 'Acme', issuer: 'http://localhost:3000/t/read-acme', lockout: { max_failed_attempts: 5 } });
    expect(typeof first.next_cursor).toBe('string');
    const rest = json(['tenant', 'list', '--limit', '2', '--cursor', first.next_cursor]);
    expect(rest).toEqual({ items: [expect.objectContaining({ slug: 'system' })], next_cursor: null });
    const text = gatehouse(['tenant', 'list']);
    expect(text.stdout.split('\n')[0]).toMatch(/^SLUG +NAME +ISSUER +CREATED$/);
    expect(text.stdout).toMatch(/^read-acme +Acme +http:\/\/localhost:3000\/t\/read-acme /m);
  });

  it('tenant show prints every setting', () => {
    expect(json(['tenant', 'show', 'read-acme'])).toMatchObject({ slug: 'read-acme', access_token_ttl: 3600, password_policy: { min_length: 8 } });
    const text = gatehouse(['tenant', 'show', 'read-acme']);
    expect(text.stdout).toMatch(/^issuer: http:\/\/localhost:3000\/t\/read-acme$/m);
    expect(text.stdout).toMatch(/^lockout\.max_failed_attempts: 5$/m);
    expect(gatehouse(['tenant', 'show', 'nope'])).toMatchObject({ code: 1, stdout: '', stderr: 'gatehouse: unknown tenant: nope' });
  });

  it('client list and client show answer the metadata, never a secret', () => {
    const list = json(['client', 'list', '--tenant', 'read-acme']);
    expect(list.next_cursor).toBeNull();
    expect(list.items.map((c: { client_id: string }) => c.client_id)).toContain(clientId);
    const shown = json(['client', 'show', '--tenant', 'read-acme', clientId]);
    expect(shown).toMatchObject({ client_id: clientId, client_name: 'Web', redirect_uris: ['https://app.example.com/cb'], roles: [] });
    expect(JSON.stringify(list) + JSON.stringify(shown)).not.toMatch(/secret"/);
    expect(gatehouse(['client', 'list', '--tenant', 'read-acme']).stdout).toMatch(new RegExp(`^${clientId} +Web +client_secret_basic +authorization_code,refresh_token`, 'm'));
    expect(gatehouse(['client', 'show', '--tenant', 'read-acme', 'nope'])).toMatchObject({ code: 1, stderr: 'gatehouse: no client nope in tenant read-acme' });
    // An argument that starts with '-' reads as an option, and the error says what to do; after -- it is the argument.
    expect(gatehouse(['client', 'show', '--tenant', 'read-acme', '-dashed'])).toMatchObject({ code: 2, stderr: 'gatehouse: client show: unknown option -d; an argument that starts with "-" goes after -- (see `gatehouse client show --help`)' });
    expect(gatehouse(['client', 'show', '--tenant', 'read-acme', '--', '-dashed'])).toMatchObject({ code: 1, stderr: 'gatehouse: no client -dashed in tenant read-acme' });
  });

  it('user list searches by prefix; user show finds by id or email', () => {
    expect(json(['user', 'list', '--tenant', 'read-acme']).items.map((u: { email: string }) => u.email)).toEqual(['alice@example.com', 'bob@example.com']);
    expect(json(['user', 'list', '--tenant', 'read-acme', '--search', 'BO']).items.map((u: { email: string }) => u.email)).toEqual(['bob@example.com']);
    const byEmail = json(['user', 'show', '--tenant', 'read-acme', 'Alice@Example.com']);
    expect(byEmail).toMatchObject({ id: userId, email: 'alice@example.com', name: 'Alice', disabled: false });
    expect(json(['user', 'show', '--tenant', 'read-acme', userId])).toEqual(byEmail);
    expect(JSON.stringify(byEmail)).not.toMatch(/hash|password/);
    expect(gatehouse(['user', 'list', '--tenant', 'read-acme', '--search', 'zed']).stdout).toBe('No users matching zed in tenant read-acme.\n');
    expect(gatehouse(['user', 'show', '--tenant', 'read-acme', 'nobody@example.com'])).toMatchObject({ code: 1, stderr: 'gatehouse: no user nobody@example.com in tenant read-acme' });
  });

  it('refuses a bad --limit or --cursor with exit 1 and one line', () => {
    expect(gatehouse(['tenant', 'list', '--limit', '0'])).toMatchObject({ code: 1, stderr: 'gatehouse: --limit must be a whole number from 1 to 200' });
    expect(gatehouse(['user', 'list', '--tenant', 'read-acme', '--cursor', 'garbage'])).toMatchObject({ code: 1, stderr: 'gatehouse: --cursor is not a cursor that a list printed' });
  });

  it('--json on migrate and audit verify; audit verify keeps its exit status', () => {
    expect(json(['migrate'])).toMatchObject({ migrated: true, migrations: expect.any(Number), latest: expect.any(String) });
    const verified = json(['audit', 'verify']);
    expect(verified.ok).toBe(true);
    expect(verified.tenants).toEqual(expect.arrayContaining([expect.objectContaining({ tenant: 'read-acme', ok: true, events: expect.any(Number) })]));
    expect(json(['audit', 'verify', '--tenant', 'read-beta'])).toEqual({ ok: true, tenants: [{ tenant: 'read-beta', ok: true, events: expect.any(Number) }] });
  });
});
