import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { startGatehouse, type Gatehouse } from '../../../src/app.js';
import { ConfigError, type Config } from '../../../src/config/load.js';
import type { Db } from '../../../src/db/knex.js';
import { CLI_ACTOR, MasterKeyNotCurrentError } from '../../../src/deps.js';
import { registerClient } from '../../../src/domain/clients/clients.service.js';
import { createSigningKey, rotateSigningKey } from '../../../src/domain/keys/keys.service.js';
import { checkState, rotatingMarker } from '../../../src/domain/keys/master-key-check.js';
import { rotateMasterKey } from '../../../src/domain/keys/master-key-rotation.js';
import { beginTotpEnrollment, confirmTotpEnrollment } from '../../../src/domain/mfa/mfa.service.js';
import { changeTenantSettings, createTenant } from '../../../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { createUser } from '../../../src/domain/users/users.service.js';
import { SEALED_COLUMNS, signingKeyAad } from '../../../src/security/sealed-columns.js';
import { Secrets } from '../../../src/security/secrets.js';
import { clientValidator } from '../../../src/tenancy/validate-client.js';
import { freshDatabase } from '../../support/gatehouse.js';
import { csrfOf } from '../../support/browser.js';
import { RelyingParty } from '../../support/relying-party.js';
import { oathtoolCode, previousStepCode } from '../../support/totp.js';

// DESIGN.md "CLI": `gatehouse master-key rotate` re-encrypts every secret from
// GATEHOUSE_MASTER_KEY_PREVIOUS to GATEHOUSE_MASTER_KEY, one transaction per tenant, resumable,
// audited. Driven through the compiled CLI, as an operator runs it.
let db: Awaited<ReturnType<typeof freshDatabase>>;
const oldKey = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');
const config = (masterKey: string): Config => ({
  production: false, port: 0, publicUrl: '', publicUrlFixed: false, trustProxy: [], databaseUrl: db.url, redisUrl: process.env.REDIS_URL || undefined,
  dataDir: db.dataDir!, masterKey, bootstrap: {}, bcryptCost: 4, logLevel: 'debug', outboundAllow: [],
});
const start = (masterKey: string) => startGatehouse(config(masterKey), { kvPrefix: `ghtest:${randomBytes(4).toString('hex')}:` });

function gatehouse(args: string[], env: Record<string, string>) {
  const full: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, BCRYPT_COST: '4', ...env };
  if (db.url) full.DATABASE_URL = db.url;
  else full.GATEHOUSE_DATA_DIR = db.dataDir;
  const res = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), ...args], { env: full, encoding: 'utf8', timeout: 120_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr.split('\n').filter((l) => l && !l.includes('oidc-provider WARNING')).join('\n') };
}
const rotate = (env: Record<string, string>, args: string[] = []) => gatehouse(['master-key', 'rotate', ...args], env);

/** Every sealed value, the check value and the carried-over keys: what a rotation may change. */
async function snapshot(gh: Pick<Gatehouse, 'deps'> | undefined = undefined) {
  const knex = gh?.deps.db ?? (await import('../../../src/db/knex.js')).createDb({ databaseUrl: db.url, dataDir: db.dataDir! });
  try {
    const out: Record<string, unknown> = {};
    for (const c of SEALED_COLUMNS) out[`${c.table}.${c.column}`] = await knex(c.table).select(...c.idColumns, c.column).orderBy([...c.idColumns]);
    out.check = await knex('master_key_check').select('sealed');
    out.derived = await knex('master_key_derived_keys').select('purpose', 'sealed').orderBy('purpose');
    out.audit = await knex('audit_events').count({ n: '*' });
    return out;
  } finally {
    if (!gh) await knex.destroy();
  }
}

const clientCredentials = (gh: Gatehouse, c: (typeof clients)[number]) =>
  fetch(`${gh.url}/t/${c.tenant.slug}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${c.clientId}:${c.secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });

/** The master key the database is under, as the tests below leave it. */
let inUse = '';
const secretsOf = (key: string) => new Secrets(Buffer.from(key, 'base64'));
/** The keys of a rotation from the key in use to `next`. */
const rotationTo = (next: string) => ({ next: secretsOf(next), previous: secretsOf(inUse) });
/**
 * A node on the key in use, and the keys of an in-process rotation to a new key: `run` does the
 * rotation and its checks; once it has passed, the new key is the one in use.
 */
async function onNodeRotating(run: (gh: Gatehouse, keys: ReturnType<typeof rotationTo>) => Promise<void>) {
  const gh = await start(inUse);
  const next = randomBytes(32).toString('base64');
  try {
    await run(gh, rotationTo(next));
    inUse = next;
  } finally {
    await gh.close();
  }
}
let tenants: Tenant[];
const clients: { tenant: Tenant; clientId: string; secret: string }[] = [];
let totpUser: { email: string; password: string; seed: string; tenant: Tenant; app: { clientId: string; secret: string; redirectUri: string } };

beforeAll(async () => {
  db = await freshDatabase();
  const gh = await start(oldKey);
  try {
    const deps = gh.deps;
    tenants = [];
    for (const slug of ['mk-one', 'mk-two']) {
      const tenant = await createTenant(deps, { slug, name: slug }, CLI_ACTOR);
      tenants.push(tenant);
      await rotateSigningKey(deps, tenant, undefined, CLI_ACTOR); // a previous key too
      const { client, secret } = await registerClient(deps, tenant, { metadata: { client_name: 'svc', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] } }, CLI_ACTOR, clientValidator(gh.registry));
      clients.push({ tenant, clientId: client.clientId, secret: secret! });
    }
    // A user with a confirmed TOTP factor in the first tenant, and a web app to log in to.
    const tenant = tenants[0];
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const user = await createUser(deps, tenant, { email: 'totp@example.com', password, emailVerified: true }, CLI_ACTOR);
    const enrollment = beginTotpEnrollment(deps, tenant, { id: user.id, email: user.email });
    expect(await confirmTotpEnrollment(deps, tenant, user.id, enrollment.sealed, await previousStepCode(enrollment.secret), CLI_ACTOR)).toBeDefined();
    const redirectUri = 'http://127.0.0.1:9/cb';
    const { client, secret } = await registerClient(deps, tenant, { metadata: { client_name: 'web', redirect_uris: [redirectUri] } }, CLI_ACTOR, clientValidator(gh.registry));
    totpUser = { email: user.email, password, seed: enrollment.secret, tenant, app: { clientId: client.clientId, secret: secret!, redirectUri } };
  } finally {
    await gh.close();
  }
}, 120_000);
afterAll(() => db.drop());

describe('gatehouse master-key rotate', () => {
  it('refuses a wrong GATEHOUSE_MASTER_KEY_PREVIOUS with exit 1 and one line, changing nothing', async () => {
    const before = await snapshot();
    const res = rotate({ GATEHOUSE_MASTER_KEY: newKey, GATEHOUSE_MASTER_KEY_PREVIOUS: randomBytes(32).toString('base64') });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^gatehouse: GATEHOUSE_MASTER_KEY_PREVIOUS: neither it nor GATEHOUSE_MASTER_KEY decrypts the data in this database/);
    expect(res.stderr.split('\n')).toHaveLength(1);
    expect(res.stdout).toBe('');
    expect(await snapshot()).toEqual(before);

    const bad = rotate({ GATEHOUSE_MASTER_KEY: newKey, GATEHOUSE_MASTER_KEY_PREVIOUS: 'not-a-key' });
    expect(bad).toMatchObject({ code: 1, stderr: 'gatehouse: Invalid configuration: GATEHOUSE_MASTER_KEY_PREVIOUS must be 32 bytes, base64-encoded (openssl rand -base64 32)' });
    expect(rotate({ GATEHOUSE_MASTER_KEY: newKey })).toMatchObject({ code: 1, stderr: expect.stringMatching(/^gatehouse: GATEHOUSE_MASTER_KEY_PREVIOUS must be set/) });
    expect(await snapshot()).toEqual(before);
    // The key in use given as the new one (and any previous): nothing to do, and the keys behind
    // the hashes are left alone (not replaced by the other key's).
    const noop = rotate({ GATEHOUSE_MASTER_KEY: oldKey, GATEHOUSE_MASTER_KEY_PREVIOUS: randomBytes(32).toString('base64') }, ['--json']);
    expect(noop.code).toBe(0);
    expect(JSON.parse(noop.stdout)).toMatchObject({ reencrypted: 0, tenants_changed: 0 });
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  it('can be run back with the two variables swapped after an interruption: the old key serves again, client secrets included', async () => {
    const other = randomBytes(32).toString('base64');
    expect(rotate({ GATEHOUSE_MASTER_KEY: other, GATEHOUSE_MASTER_KEY_PREVIOUS: oldKey, NODE_ENV: 'test', GATEHOUSE_TEST_MASTER_KEY_ROTATE_FAIL_AFTER: '1' }).code).toBe(1);
    const back = rotate({ GATEHOUSE_MASTER_KEY: oldKey, GATEHOUSE_MASTER_KEY_PREVIOUS: other }, ['--json']);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ tenants: 3, tenants_changed: 1 });
    await expect(start(other)).rejects.toThrow(/^GATEHOUSE_MASTER_KEY: this key does not decrypt the data in this database/);
    const gh = await start(oldKey);
    try {
      expect((await (await fetch(`${gh.url}/readyz`)).json()).checks).toMatchObject({ master_key: true });
      // The hash key in use before the interrupted rotation is the one kept, not the other key's.
      for (const c of clients) expect((await clientCredentials(gh, c)).status).toBe(200);
    } finally {
      await gh.close();
    }
  }, 240_000);

  it('is finished by a re-run after an interruption, then the new key alone serves TOTP logins and client_credentials', async () => {
    const env = { GATEHOUSE_MASTER_KEY: newKey, GATEHOUSE_MASTER_KEY_PREVIOUS: oldKey };
    const before = await snapshot();
    // Interrupted after two of the three tenants (system, mk-one; mk-two is left under the old key).
    const crashed = rotate({ ...env, NODE_ENV: 'test', GATEHOUSE_TEST_MASTER_KEY_ROTATE_FAIL_AFTER: '2' });
    expect(crashed.code).toBe(1);
    const halfway = await snapshot();
    expect(halfway['signing_keys.private_jwk_encrypted']).not.toEqual(before['signing_keys.private_jwk_encrypted']);
    // Not complete: the check value says so, and a node refuses to start on either key (one on the
    // old key would fail the tenants already re-encrypted, one on the new key the others).
    expect(halfway.check).not.toEqual(before.check);
    await expect(start(newKey)).rejects.toThrow(ConfigError);
    await expect(start(newKey)).rejects.toThrow(/^GATEHOUSE_MASTER_KEY: a master-key rotation to this key is under way or was interrupted/);
    await expect(start(oldKey)).rejects.toThrow(/^GATEHOUSE_MASTER_KEY: a master-key rotation to another key is under way or was interrupted/);

    const resumed = rotate(env, ['--json']);
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary).toMatchObject({ tenants: 3, tenants_changed: 1 });
    expect(summary.already_rotated).toBeGreaterThan(0);
    expect(summary.by_column['signing_keys.private_jwk_encrypted']).toBe(3); // mk-two's current, next and previous keys
    expect(resumed.stderr).toMatch(/^master-key rotate: \d+ secrets re-encrypted in 1 of 3 tenants \(\d+ already under the new key\)/);
    expect(resumed.stderr.split('\n')).toHaveLength(1);

    // One event per tenant, none carrying a secret.
    const knex = (await import('../../../src/db/knex.js')).createDb({ databaseUrl: db.url, dataDir: db.dataDir! });
    const fingerprint = secretsOf(newKey).fingerprint;
    const events = (await knex('audit_events').where({ type: 'master_key.rotated' })).filter((e: any) => JSON.stringify(e.details).includes(fingerprint));
    await knex.destroy();
    expect(events).toHaveLength(3);
    expect(new Set(events.map((e: any) => e.tenant_id)).size).toBe(3);
    for (const e of events) {
      expect(e.actor).toBe('cli');
      const details = JSON.stringify(e.details);
      for (const secret of [oldKey, newKey, totpUser.seed, ...clients.map((c) => c.secret)]) expect(details).not.toContain(secret);
      // What docs/keys-and-secrets.md promises: counts by column and the new key's fingerprint.
      const parsed = typeof e.details === 'string' ? JSON.parse(e.details) : e.details;
      expect(details).not.toContain('[redacted]');
      expect(parsed.key_fingerprint).toMatch(/^[A-Za-z0-9+/=_:-]{8,}$/);
      expect(parsed.already_rotated).toEqual(expect.any(Number));
      for (const count of Object.values(parsed.reencrypted as Record<string, unknown>)) expect(count).toEqual(expect.any(Number));
    }

    // A third run finds nothing to do and records nothing.
    const again = rotate(env, ['--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ reencrypted: 0, tenants_changed: 0 });
    const after = await snapshot();

    // The old key alone is refused with one line; the new key alone is ready and serves logins.
    const refused = await start(oldKey).then(() => undefined, (err) => err);
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused.message).toMatch(/^GATEHOUSE_MASTER_KEY: this key does not decrypt the data in this database/);
    const gh = await start(newKey);
    try {
      expect((await snapshot(gh)).audit).toEqual(after.audit);
      const ready = await fetch(`${gh.url}/readyz`);
      expect(ready.status).toBe(200);
      expect((await ready.json()).checks).toMatchObject({ master_key: true });
      // Client secrets issued under the old key still verify (their hash key was carried over).
      for (const c of clients) expect((await clientCredentials(gh, c)).status).toBe(200);
      // The TOTP seed, re-encrypted, still gives the codes the user's authenticator shows.
      const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${totpUser.tenant.slug}`, clientId: totpUser.app.clientId, clientSecret: totpUser.app.secret, redirectUri: totpUser.app.redirectUri });
      const tokens = await rp.login(totpUser, {}, { code: () => oathtoolCode(totpUser.seed) });
      expect(tokens.claims()).toMatchObject({ amr: expect.arrayContaining(['otp']) });
      // Every signing key of each tenant is still published (the next and previous ones decrypt too).
      const jwks = await (await fetch(`${gh.url}/t/mk-two/jwks`)).json();
      expect(jwks.keys).toHaveLength(3);
    } finally {
      await gh.close();
    }
  }, 240_000);

  it('keeps users signed in across a rotation, and signs everyone out with --new-cookie-key', async () => {
    const tenant = totpUser.tenant;
    let gh = await start(newKey);
    const port = Number(new URL(gh.url).port);
    // Each node on the same port, so the issuer and the browser's cookies stay the same.
    const restart = async (key: string, rotation?: () => void) => {
      await gh.close();
      rotation?.();
      gh = await startGatehouse({ ...config(key), port }, { kvPrefix: `ghtest:${randomBytes(4).toString('hex')}:` });
    };
    const silent = async (rp: RelyingParty) => new URL((await rp.startLogin({ scope: 'openid', prompt: 'none' })).at).searchParams;
    const key = () => randomBytes(32).toString('base64');
    // A new cookie key signs everyone out of every tenant: recorded once, in the system tenant's chain.
    const cookieKeyEvents = async () => (await gh.deps.db('audit_events').join('tenants', 'tenants.id', 'audit_events.tenant_id')
      .where({ 'tenants.slug': 'system', 'audit_events.type': 'master_key.cookie_key_replaced' }).select('audit_events.details')).map((e: { details: unknown }) => e.details);
    try {
      const before = (await cookieKeyEvents()).length;
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const user = await createUser(gh.deps, tenant, { email: 'plain@example.com', password, emailVerified: true }, CLI_ACTOR);
      const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, clientId: totpUser.app.clientId, clientSecret: totpUser.app.secret, redirectUri: totpUser.app.redirectUri });
      await rp.login({ email: user.email, password });
      expect((await silent(rp)).get('code')).toBeTruthy();

      const third = key();
      await restart(third, () => expect(rotate({ GATEHOUSE_MASTER_KEY: third, GATEHOUSE_MASTER_KEY_PREVIOUS: newKey }).code).toBe(0));
      expect((await silent(rp)).get('code')).toBeTruthy(); // the cookie key was carried over

      // A --new-cookie-key rotation interrupted, then run back: the cookie key in use before stays.
      const abandoned = key();
      await restart(third, () => {
        expect(rotate({ GATEHOUSE_MASTER_KEY: abandoned, GATEHOUSE_MASTER_KEY_PREVIOUS: third, NODE_ENV: 'test', GATEHOUSE_TEST_MASTER_KEY_ROTATE_FAIL_AFTER: '1' }, ['--new-cookie-key']).code).toBe(1);
        expect(rotate({ GATEHOUSE_MASTER_KEY: third, GATEHOUSE_MASTER_KEY_PREVIOUS: abandoned }).code).toBe(0);
      });
      expect((await silent(rp)).get('code')).toBeTruthy();
      expect(await cookieKeyEvents()).toHaveLength(before);

      const fourth = key();
      let renewed: ReturnType<typeof rotate> | undefined;
      await restart(fourth, () => (renewed = rotate({ GATEHOUSE_MASTER_KEY: fourth, GATEHOUSE_MASTER_KEY_PREVIOUS: third }, ['--new-cookie-key', '--json'])));
      expect(renewed!.code).toBe(0);
      expect(JSON.parse(renewed!.stdout)).toMatchObject({ new_cookie_key: true });
      expect(renewed!.stderr).toMatch(/the cookie key is new: every user signs in again/);
      expect((await silent(rp)).get('error')).toBe('login_required');
      // What hashes verify is carried over still: client secrets keep working, and a new login works.
      for (const c of clients) expect((await clientCredentials(gh, c)).status).toBe(200);
      await rp.login({ email: user.email, password });
      expect((await silent(rp)).get('code')).toBeTruthy();
      await restart(fourth);
      expect((await silent(rp)).get('code')).toBeTruthy();

      // Asked for once the rotation has finished (a re-run after reading the advice on leaks): done then.
      await restart(fourth, () => {
        const again = rotate({ GATEHOUSE_MASTER_KEY: fourth, GATEHOUSE_MASTER_KEY_PREVIOUS: third }, ['--new-cookie-key', '--json']);
        expect(again.code).toBe(0);
        expect(JSON.parse(again.stdout)).toMatchObject({ reencrypted: 0, new_cookie_key: true });
      });
      expect((await silent(rp)).get('error')).toBe('login_required');
      for (const c of clients) expect((await clientCredentials(gh, c)).status).toBe(200);
      const events = await cookieKeyEvents();
      expect(events).toHaveLength(before + 2);
      for (const secret of [third, fourth]) expect(JSON.stringify(events)).not.toContain(secret);
      inUse = fourth;
    } finally {
      await gh.close();
    }
  }, 240_000);

  it('refuses a second run while one is going, and a run on top of an earlier version\'s unfinished rotation to the previous key', async () => {
    const env = { GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'), GATEHOUSE_MASTER_KEY_PREVIOUS: inUse };
    // One connection at a time: the embedded database is one process's while it is open.
    const withDb = async <T>(fn: (knex: Db) => Promise<T>) => {
      const knex = (await import('../../../src/db/knex.js')).createDb({ databaseUrl: db.url, dataDir: db.dataDir! });
      try {
        return await fn(knex);
      } finally {
        await knex.destroy();
      }
    };
    if (db.url) {
      // PostgreSQL: a run holds a session lock for its whole length (PGlite: the data folder's lock).
      await withDb(async (knex) => {
        const held = await knex.client.acquireConnection();
        try {
          await new Promise((resolve, reject) => held.query("select pg_advisory_lock(hashtext('gatehouse.master_key_rotate'))", (err: Error | null) => (err ? reject(err) : resolve(undefined))));
          expect(rotate(env)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^gatehouse: another `gatehouse master-key rotate` is running against this database/) });
        } finally {
          await knex.client.releaseConnection(held);
        }
      });
    }
    const before = await snapshot();
    // What an earlier version left when stopped: the mark of a rotation to `inUse`, nothing carried.
    await withDb(async (knex) => {
      await knex('master_key_check').update({ sealed: rotatingMarker(secretsOf(inUse)) });
      await knex('master_key_derived_keys').delete();
    });
    expect(rotate(env)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^gatehouse: GATEHOUSE_MASTER_KEY_PREVIOUS: a master-key rotation to this key, started by an earlier version of Gatehouse, has not finished/) });
    await withDb(async (knex) => {
      await knex('master_key_check').update({ sealed: (before.check as { sealed: string }[])[0].sealed });
      await knex('master_key_derived_keys').insert(before.derived as object[]);
    });
    expect(await snapshot()).toEqual(before);

    if (db.url) {
      // A run whose lock went with its connection stops before the last step; a re-run finishes.
      const keys = rotationTo(env.GATEHOUSE_MASTER_KEY);
      await withDb(async (knex) => {
        const cut = async () => {
          await knex.raw("select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and objid = hashtext('gatehouse.master_key_rotate')::oid");
        };
        await expect(rotateMasterKey(knex, keys, CLI_ACTOR, { beforeSweep: cut })).rejects.toThrow(/lost its lock/);
        expect(checkState({ secrets: keys.next }, (await knex('master_key_check').first('sealed')).sealed)).toBe('rotating');
        expect(await rotateMasterKey(knex, keys, CLI_ACTOR)).toMatchObject({ tenants: tenants.length + 1 });
        expect(checkState({ secrets: keys.next }, (await knex('master_key_check').first('sealed')).sealed)).toBe('ok');
      });
      inUse = env.GATEHOUSE_MASTER_KEY;
    }
  }, 120_000);

  it('leaves nothing under the old key from a node left running through a rotation, which answers 503, not 500', () =>
    onNodeRotating(async (gh, keys) => {
      await expect(rotateMasterKey(gh.deps.db, keys, CLI_ACTOR, { failAfterTenants: 1 })).rejects.toThrow(/interrupted/);
      // Under way: the node on the old key seals nothing new (a key made now would stay under it).
      for (const tenant of tenants) await expect(rotateSigningKey(gh.deps, tenant, undefined, CLI_ACTOR)).rejects.toBeInstanceOf(MasterKeyNotCurrentError);
      // Also under way: a TOTP enrollment is not stored (its seed under the old key).
      const tenant = tenants[0];
      const user = await createUser(gh.deps, tenant, { email: `late-${randomBytes(3).toString('hex')}@example.com`, password: 'long enough pw', emailVerified: true }, CLI_ACTOR);
      const enrollment = beginTotpEnrollment(gh.deps, tenant, { id: user.id, email: user.email });
      await expect(confirmTotpEnrollment(gh.deps, tenant, user.id, enrollment.sealed, oathtoolCode(enrollment.secret), CLI_ACTOR)).rejects.toBeInstanceOf(MasterKeyNotCurrentError);
      expect(await gh.deps.db('user_mfa_factors').where({ user_id: user.id })).toHaveLength(0);
      // A node that ignores the mark (an earlier version) writing under the old key while the
      // rotation runs: the last sweep re-encrypts it before the rotation is declared finished.
      const straggler = secretsOf(inUse);
      await rotateMasterKey(gh.deps.db, keys, CLI_ACTOR, {
        beforeSweep: async () => {
          const [key] = await gh.deps.db('signing_keys').where({ tenant_id: tenant.id, status: 'next' }).select('kid', 'private_jwk_encrypted');
          const plaintext = keys.next.decrypt(key.private_jwk_encrypted, signingKeyAad(tenant.id, key.kid));
          await gh.deps.db('signing_keys').where({ tenant_id: tenant.id, kid: key.kid }).update({ private_jwk_encrypted: straggler.encrypt(plaintext, signingKeyAad(tenant.id, key.kid)) });
        },
      });
      for (const c of SEALED_COLUMNS) {
        for (const row of await gh.deps.db(c.table).select(...c.idColumns, c.column).whereNotNull(c.column)) expect(keys.next.opens(String(row[c.column]), c.aad(row))).toBe(true);
      }
      // What it cannot open now is unavailable there (as /readyz says), not a fault with a stack.
      expect((await fetch(`${gh.url}/readyz`)).status).toBe(503);
      const jwks = await fetch(`${gh.url}/t/mk-two/jwks`);
      expect(jwks.status).toBe(503);
      expect(await jwks.json()).toMatchObject({ error: 'temporarily_unavailable' });
    }), 240_000);

  // The interaction must outlive the restart: a shared Redis (the in-process store goes with the node).
  (process.env.REDIS_URL ? it : it.skip)('offers a new seed to a user enrolling across a rotation (the old seal no longer opens), not a 503', async () => {
    const kvPrefix = `ghtest:${randomBytes(4).toString('hex')}:`;
    let gh = await startGatehouse(config(inUse), { kvPrefix });
    const port = Number(new URL(gh.url).port);
    const next = randomBytes(32).toString('base64');
    try {
      const tenant = await changeTenantSettings(gh.deps, tenants[1], { settings: { mfa_required: true } }, CLI_ACTOR);
      const redirectUri = 'http://127.0.0.1:9/cb';
      const { client, secret } = await registerClient(gh.deps, tenant, { metadata: { client_name: 'enroll', redirect_uris: [redirectUri] } }, CLI_ACTOR, clientValidator(gh.registry));
      const user = await createUser(gh.deps, tenant, { email: 'enrolling@example.com', password: 'long enough pw', emailVerified: true }, CLI_ACTOR);
      const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, clientId: client.clientId, clientSecret: secret!, redirectUri });
      const origin = new URL(gh.url).origin;
      const start = await rp.startLogin({ scope: 'openid' });
      const posted = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: 'long enough pw' });
      const page = await rp.browser.follow(new URL(posted.headers.get('location')!, start.at).toString(), origin);
      const html = await page.res.text();
      const seedOf = (h: string) => /data-testid="totp-secret">([A-Z2-7]+)</.exec(h)?.[1];
      const oldSeed = seedOf(html)!;
      expect(oldSeed).toBeTruthy();

      await gh.close();
      expect(rotate({ GATEHOUSE_MASTER_KEY: next, GATEHOUSE_MASTER_KEY_PREVIOUS: inUse }).code).toBe(0);
      inUse = next;
      gh = await startGatehouse({ ...config(next), port }, { kvPrefix });

      const renewed = await rp.browser.post(`${page.url}/enroll`, { csrf: csrfOf(html), code: oathtoolCode(oldSeed) });
      expect(renewed.status).toBe(400);
      const again = await renewed.text();
      expect(again).toContain('Scan the new code below');
      const newSeed = seedOf(again)!;
      expect(newSeed).toBeTruthy();
      expect(newSeed).not.toBe(oldSeed);
      const done = await rp.browser.post(`${page.url}/enroll`, { csrf: csrfOf(again), code: oathtoolCode(newSeed) });
      expect(done.status).toBe(200);
      expect(await done.text()).toMatch(/recovery codes/i);
    } finally {
      await gh.close();
    }
  }, 120_000);

  it('re-encrypts a tenant whose creation was under way as the rotation began', () =>
    onNodeRotating(async (gh, keys) => {
      // A node creating a tenant: its keys sealed under the old key, not committed yet.
      const trx = await gh.deps.db.transaction();
      const id = randomUUID();
      await trx('tenants').insert({ id, slug: `mk-late-${randomBytes(3).toString('hex')}`, name: 'late', settings: JSON.stringify({}) });
      await createSigningKey(gh.deps, trx, id, 'RS256');
      const rotation = rotateMasterKey(gh.deps.db, keys, CLI_ACTOR);
      await sleep(500); // the rotation's mark waits for this transaction (PostgreSQL; PGlite runs one at a time)
      await trx.commit();
      expect(await rotation).toMatchObject({ tenants: tenants.length + 2 });
      const rows = await gh.deps.db('signing_keys').where({ tenant_id: id });
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(keys.next.opens(row.private_jwk_encrypted, signingKeyAad(id, row.kid))).toBe(true);
    }), 120_000);
});
