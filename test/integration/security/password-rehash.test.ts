import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { replacePasswordHash } from '../../../src/domain/users/users.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { rehashIfStale } from '../../../src/domain/users/users.service.js';
import { Lockout } from '../../../src/security/lockout.js';
import { postForm, signInToAccount } from '../../support/account.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

// A password hashed at another cost than BCRYPT_COST (the operator raised it, or the hash came
// from elsewhere) is hashed again at BCRYPT_COST by the login that proves it. The hashes are made
// and checked by the C library's crypt(3) (libxcrypt) through Perl, which is part of every Debian
// system (perl-base is Essential) and shares no code with Gatehouse.
let gh: TestGatehouse;
let tenant: Tenant;

beforeAll(async () => {
  gh = await startTestGatehouse({ bcryptCost: 4 });
  tenant = await gh.tenant();
});
afterAll(() => gh.stop());

const BCRYPT_BASE64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** crypt(3) of `password` with `salt` (an existing hash checks it), or with a new salt at `cost`. */
function crypt(password: string, saltOrCost: string) {
  // A new salt: 22 characters, the last of which carries only 2 of its 6 bits.
  const salt = saltOrCost.startsWith('$') ? saltOrCost : `$2b$${saltOrCost.padStart(2, '0')}$${[...randomBytes(21)].map((b) => BCRYPT_BASE64[b & 63]).join('')}${'.Oeu'[randomBytes(1)[0] & 3]}`;
  return execFileSync('perl', ['-e', 'local $/; my $word = <STDIN>; print crypt($word, $ARGV[0]) // ""', salt], { input: password, encoding: 'utf8' });
}

const storedHash = async (userId: string) => (await gh.deps.db('users').where({ tenant_id: tenant.id, id: userId }).first('password_hash', 'updated_at')) as { password_hash: string; updated_at: Date };

async function logIn(user: { email: string; password: string }) {
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...(await gh.client(tenant)) });
  const tokens = await rp.login(user);
  await gh.deps.mailer.idle(); // the rehash runs in the background: nothing in the login waits for it
  return tokens;
}

it('hashes a password again at BCRYPT_COST once a login proves it, and leaves a hash at that cost alone', async () => {
  const user = await gh.user(tenant);
  const old = crypt(user.password, '5');
  expect(old).toMatch(/^\$2b\$05\$/);
  await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: old });
  const before = await storedHash(user.id);

  expect((await logIn(user)).access_token).toBeTruthy();
  const after = await storedHash(user.id);
  expect(after.password_hash).toMatch(/^\$2b\$04\$/);
  expect(crypt(user.password, after.password_hash)).toBe(after.password_hash); // the same password, checked by crypt(3)
  expect(after.updated_at).toEqual(before.updated_at); // not a change of the user
  const line = logLines.find((l) => l.includes('password.rehashed') && l.includes(user.id));
  expect(JSON.parse(line!)).toMatchObject({ from_cost: 5, to_cost: 4, tenant: tenant.slug });
  expect(logLines.join('\n')).not.toContain(user.password);
  expect(logLines.join('\n')).not.toContain(after.password_hash);

  // The new hash logs in, and is not made again.
  expect((await logIn(user)).access_token).toBeTruthy();
  expect((await storedHash(user.id)).password_hash).toBe(after.password_hash);
});

it('reads a $2y$ hash (PHP\'s name for $2b$) and stores it as $2b$ at BCRYPT_COST', async () => {
  const user = await gh.user(tenant);
  await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: crypt(user.password, '4').replace(/^\$2b\$/, '$2y$') });
  expect((await logIn(user)).access_token).toBeTruthy();
  const after = (await storedHash(user.id)).password_hash;
  expect(after).toMatch(/^\$2b\$04\$/);
  expect(crypt(user.password, after)).toBe(after);
});

it('makes no new hash for a wrong password, nor for the right one while the account is locked', async () => {
  const user = await gh.user(tenant);
  const old = crypt(user.password, '5');
  await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: old });
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...(await gh.client(tenant)) });
  await expect(rp.login({ email: user.email, password: `${user.password}x` })).rejects.toThrow(/401/);
  await gh.deps.mailer.idle();
  expect((await storedHash(user.id)).password_hash).toBe(old);

  // A locked account answers a right guess as a wrong one; a new hash would tell them apart.
  const lockout = new Lockout(gh.deps.kv, gh.deps.kvPrefix);
  while (!(await lockout.isLocked(tenant.id, user.id))) await lockout.recordFailure(tenant.id, user.id, tenant.settings.lockout);
  await expect(rp.login(user)).rejects.toThrow(/401/);
  await gh.deps.mailer.idle();
  expect((await storedHash(user.id)).password_hash).toBe(old);
});

it('keeps a password changed between the proof and the new hash', async () => {
  const user = await gh.user(tenant);
  const proved = crypt(user.password, '5');
  const changed = crypt('a newer password 42', '4');
  await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: proved });
  // The change lands before or after the new hash is made: either way it is what stays.
  rehashIfStale(gh.deps, tenant, user.id, user.password, proved);
  await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: changed });
  await gh.deps.mailer.idle();
  expect((await storedHash(user.id)).password_hash).toBe(changed);
  // The new hash, set after the change: refused, as the stored hash is no longer the one proved.
  expect(await replacePasswordHash(gh.deps.db, tenant.id, user.id, proved, crypt(user.password, '4'))).toBe(false);
  expect((await storedHash(user.id)).password_hash).toBe(changed);
});

it('on the account page, makes no new hash of the old password it replaces, but does of one a refused new password leaves', async () => {
  const user = await gh.user(tenant);
  const { browser, base } = await signInToAccount(gh, tenant.slug, user);
  await gh.deps.mailer.idle();
  const old = crypt(user.password, '5');
  await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: old });
  const background = jest.spyOn(gh.deps.mailer, 'background'); // calls through: the tasks run
  const started = () => background.mock.calls.map(([what]) => what);
  try {
    const page = await (await browser.get(`${base}/password`)).text();
    // The current password proved, the new one refused by the policy: the old one stays, at BCRYPT_COST.
    expect((await postForm(browser, `${base}/password`, page, { current_password: user.password, new_password: 'short' })).status).toBe(400);
    await gh.deps.mailer.idle();
    expect(started()).toEqual(['password.rehash']);
    const kept = (await storedHash(user.id)).password_hash;
    expect(kept).toMatch(/^\$2b\$04\$/);
    expect(crypt(user.password, kept)).toBe(kept);

    // Changed: the change makes the new hash itself, and no new hash of the old password is started.
    await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: old });
    background.mockClear();
    const next = 'a brand new passphrase';
    expect((await postForm(browser, `${base}/password`, page, { current_password: user.password, new_password: next })).status).toBe(200);
    await gh.deps.mailer.idle();
    expect(started()).not.toContain('password.rehash');
    const after = (await storedHash(user.id)).password_hash;
    expect(after).toMatch(/^\$2b\$04\$/);
    expect(crypt(next, after)).toBe(after);
  } finally {
    background.mockRestore();
  }
});
