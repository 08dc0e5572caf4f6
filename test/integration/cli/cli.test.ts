import { jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { freshDatabase } from '../../support/gatehouse.js';

let db: Awaited<ReturnType<typeof freshDatabase>>;
const masterKey = randomBytes(32).toString('base64');

function gatehouse(args: string[], input?: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_MASTER_KEY: masterKey, BCRYPT_COST: '4' };
  if (db.url) env.DATABASE_URL = db.url;
  else env.GATEHOUSE_DATA_DIR = db.dataDir;
  const res = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), ...args], { env, input, encoding: 'utf8', timeout: 180_000 }); // a loaded machine
  return { code: res.status, stdout: res.stdout, stderr: res.stderr.split('\n').filter((l) => l && !l.includes('oidc-provider WARNING')).join('\n') };
}

jest.setTimeout(600_000); // several CLI processes per test

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db.drop());

describe('gatehouse CLI', () => {
  it('goes from nothing to a tenant, a client and a user', () => {
    expect(gatehouse(['migrate']).code).toBe(0);
    const tenant = gatehouse(['tenant', 'create', 'cli-acme', '--name', 'Acme', '--json']);
    expect(tenant.code).toBe(0);
    expect(JSON.parse(tenant.stdout)).toMatchObject({ slug: 'cli-acme', name: 'Acme', issuer: 'http://localhost:3000/t/cli-acme', access_token_ttl: 3600 });

    const client = gatehouse(['client', 'create', '--tenant', 'cli-acme', '--name', 'Web', '--redirect-uri', 'https://app.example.com/cb', '--json']);
    expect(client.code).toBe(0);
    const created = JSON.parse(client.stdout);
    expect(created).toMatchObject({ client_name: 'Web', redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'client_secret_basic' });
    expect(created.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const user = gatehouse(['user', 'create', '--tenant', 'cli-acme', '--email', 'Bob@Example.com', '--password-stdin', '--name', 'Bob', '--json'], 'a good long password\n');
    expect(user.code).toBe(0);
    const u = JSON.parse(user.stdout);
    expect(u).toMatchObject({ email: 'Bob@Example.com', name: 'Bob', disabled: false });
    expect(JSON.stringify(u)).not.toMatch(/hash|password/);

    const rotated = gatehouse(['keys', 'rotate', '--tenant', 'cli-acme', '--alg', 'EdDSA', '--json']);
    expect(rotated.code).toBe(0);
    // As the admin API answers it: public parts only, and the RS256 key made with it.
    expect(JSON.parse(rotated.stdout)).toMatchObject({ alg: 'EdDSA', status: 'current', public_jwk: { kty: 'OKP' }, rs256_key: { alg: 'RS256', status: 'current' } });
    expect(rotated.stdout).not.toMatch(/"d":/);
    // Every key with its status, as GET /admin/v1/tenants/{slug}/keys lists them.
    const listed = gatehouse(['keys', 'list', '--tenant', 'cli-acme', '--json']);
    expect(listed.code).toBe(0);
    const keys = JSON.parse(listed.stdout).items as { kid: string; alg: string; status: string }[];
    expect(keys.filter((k) => k.status === 'current').map((k) => k.alg).sort()).toEqual(['EdDSA', 'RS256']);
    expect(keys.map((k) => k.status)).toEqual(expect.arrayContaining(['current', 'next', 'previous']));
    expect(listed.stdout).not.toMatch(/"d":/);
    expect(gatehouse(['keys', 'list', '--tenant', 'cli-acme']).stdout).toMatch(new RegExp(`^KID +ALG +STATUS +CREATED +ROTATED\n(.*\n)*${keys[0].kid} +EdDSA +current `, 'm'));
    const verify = gatehouse(['audit', 'verify', '--tenant', 'cli-acme']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/cli-acme: ok \(\d+ events\)/);
  });

  it('refuses duplicates, unknown tenants and bad values with exit 1 and one line', () => {
    const dup = gatehouse(['tenant', 'create', 'cli-acme']);
    expect(dup).toMatchObject({ code: 1, stderr: 'gatehouse: tenant cli-acme already exists' });
    expect(gatehouse(['user', 'create', '--tenant', 'nope', '--email', 'a@b.co', '--password', 'long enough pw'])).toMatchObject({ code: 1, stderr: 'gatehouse: unknown tenant: nope' });
    expect(gatehouse(['tenant', 'create', 'Bad_Slug']).code).toBe(1);
    expect(gatehouse(['user', 'create', '--tenant', 'cli-acme', '--email', 'short@example.com', '--password', 'short']).stderr).toBe('gatehouse: password must be at least 8 characters');
    expect(gatehouse(['client', 'create', '--tenant', 'cli-acme', '--name', 'X', '--redirect-uri', 'not a url']).code).toBe(1);
  });

  it('answers a browser client without a redirect URI as bad usage, in the CLI\'s own words (its flag)', () => {
    expect(gatehouse(['client', 'create', '--tenant', 'cli-acme', '--name', 'J'])).toMatchObject({
      code: 2, stderr: 'gatehouse: client create: --redirect-uri is required for a client that signs users in (authorization_code); a machine client takes --grant-types client_credentials (see `gatehouse help client create`)',
    });
  });

  it('refuses client_credentials to a public client with exit 1 and one line (RFC 6749 §4.4)', () => {
    const res = gatehouse(['client', 'create', '--tenant', 'cli-acme', '--name', 'SPA', '--auth-method', 'none', '--grant-types', 'client_credentials', '--json']);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toMatch(/^gatehouse: grant_types: client_credentials is for confidential clients only[^\n]*$/);
  });

  it('answers bad usage with exit 2', () => {
    expect(gatehouse(['frobnicate']).code).toBe(2);
    expect(gatehouse(['tenant', 'create', 'x-y', '--bogus']).code).toBe(2);
    // DESIGN.md: a bad value is a refused command (exit 1, one line); 2 is for bad usage.
    expect(gatehouse(['keys', 'rotate', '--tenant', 'cli-acme', '--alg', 'HS256'])).toMatchObject({ code: 1, stderr: 'gatehouse: --alg must be RS256, ES256 or EdDSA' });
    expect(gatehouse(['user', 'create', '--tenant', 'cli-acme', '--email', 'not-an-email', '--password', 'long enough pw'])).toMatchObject({ code: 1, stderr: 'gatehouse: --email must be an email address' });
  });
});
