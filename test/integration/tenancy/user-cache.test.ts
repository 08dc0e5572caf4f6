import * as jose from 'jose';
import type { Gatehouse } from '../../../src/app.js';
import { CLI_ACTOR, type Deps } from '../../../src/deps.js';
import { announceChange } from '../../../src/domain/changes.js';
import { insertRole } from '../../../src/domain/rbac/rbac.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { changeUser, removeUser, setUserRoles } from '../../../src/domain/users/users.service.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { heard, startSecondNode } from '../../support/nodes.js';
import { RelyingParty } from '../../support/relying-party.js';

/**
 * Accounts (user record, role names) are cached per node and dropped by the change feed (area
 * 'users', and 'rbac' for roles). A change to a user must hold on the next token, refresh or
 * userinfo call: on the node that made it at once, on another node (DATABASE_URL) once its
 * NOTIFY has arrived.
 */
let gh: TestGatehouse;
let nodeB: Gatehouse | undefined;

beforeAll(async () => {
  gh = await startTestGatehouse();
  nodeB = await startSecondNode(gh);
});
afterAll(async () => {
  await nodeB?.close();
  await gh.stop();
});


const SCOPE = 'openid profile email roles offline_access';

/** A user who has logged in, and whose account this node has cached (login, refresh, userinfo). */
async function signedIn() {
  const t: Tenant = await gh.tenant();
  await insertRole(gh.deps.db, t.id, { name: 'clerk' });
  await insertRole(gh.deps.db, t.id, { name: 'auditor' });
  const user = await gh.user(t, { name: 'Ada Lovelace', roles: ['clerk'] });
  const app = await gh.client(t);
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${t.slug}`, ...app });
  const tokens = await rp.login(user, { scope: SCOPE });
  expect(tokens.claims()).toMatchObject({ name: 'Ada Lovelace', roles: ['clerk'] });
  const refreshed = await rp.refresh(tokens.refresh_token!);
  expect(jose.decodeJwt(refreshed.id_token!)).toMatchObject({ name: 'Ada Lovelace', roles: ['clerk'] });
  expect(await rp.userinfo(refreshed.access_token, user.id)).toMatchObject({ email: user.email, roles: ['clerk'] });
  return { t, user, rp, refreshToken: refreshed.refresh_token!, accessToken: refreshed.access_token };
}

function claimsOf(tokens: { id_token?: string }) {
  return jose.decodeJwt(tokens.id_token!);
}

async function expectRefused(p: Promise<unknown>, error: string) {
  await expect(p).rejects.toMatchObject({ error });
}

describe('a user changed on this node', () => {
  it('a new name, email and roles show in the very next refresh and userinfo', async () => {
    const { t, user, rp, refreshToken } = await signedIn();
    await changeUser(gh.deps, t, user.id, { name: 'Ada King', email: `king-${user.email}` }, CLI_ACTOR);
    await setUserRoles(gh.deps, t, user.id, ['auditor'], CLI_ACTOR);
    const next = await rp.refresh(refreshToken);
    expect(claimsOf(next)).toMatchObject({ name: 'Ada King', roles: ['auditor'] });
    expect(await rp.userinfo(next.access_token, user.id)).toMatchObject({ email: `king-${user.email}`, name: 'Ada King', roles: ['auditor'] });
  });

  it('a disabled user is refused at once: refresh, userinfo and a new login', async () => {
    const { t, user, rp, refreshToken, accessToken } = await signedIn();
    await changeUser(gh.deps, t, user.id, { disabled: true }, CLI_ACTOR);
    await expectRefused(rp.refresh(refreshToken), 'invalid_grant');
    await expect(rp.userinfo(accessToken, user.id)).rejects.toBeDefined();
    const fresh = await RelyingParty.discover(rp.options);
    await expect(fresh.login(user, { scope: SCOPE })).rejects.toThrow(/login refused: 401/);
  });

  it('a deleted user is refused at once', async () => {
    const { t, user, rp, refreshToken } = await signedIn();
    await removeUser(gh.deps, t, user.id, CLI_ACTOR);
    await expectRefused(rp.refresh(refreshToken), 'invalid_grant');
  });
});

describe('a user changed without touching their tokens', () => {
  it('a disabled flag written with only its announcement still refuses the refresh', async () => {
    // The change itself ends the sessions and tokens of a disabled user; here the flag alone is
    // written (as a buggy or partial writer might), so only the dropped account cache refuses.
    const { t, user, rp, refreshToken } = await signedIn();
    await gh.deps.db.transaction(async (trx) => {
      await trx('users').where({ tenant_id: t.id, id: user.id }).update({ disabled: true });
      await announceChange(trx, t.id, 'users');
    });
    await expectRefused(rp.refresh(refreshToken), 'invalid_grant');
  });
});

const twoNodes = process.env.DATABASE_URL ? describe : describe.skip;

twoNodes('a user changed on node B (same PostgreSQL) holds on node A', () => {
  const depsB = () => nodeB!.deps as Deps;

  it('a new name and roles', async () => {
    const { t, user, rp, refreshToken } = await signedIn();
    const renamed = heard(gh.registry, t.id, 'users');
    await changeUser(depsB(), t, user.id, { name: 'Ada King' }, CLI_ACTOR);
    await renamed;
    const reassigned = heard(gh.registry, t.id, 'users');
    await setUserRoles(depsB(), t, user.id, ['auditor'], CLI_ACTOR);
    await reassigned;
    expect(claimsOf(await rp.refresh(refreshToken))).toMatchObject({ name: 'Ada King', roles: ['auditor'] });
  });

  it('a disabled user, even if only the flag were written', async () => {
    const { t, user, rp, refreshToken } = await signedIn();
    const seen = heard(gh.registry, t.id, 'users');
    await depsB().db.transaction(async (trx) => {
      await trx('users').where({ tenant_id: t.id, id: user.id }).update({ disabled: true });
      await announceChange(trx, t.id, 'users');
    });
    await seen;
    await expectRefused(rp.refresh(refreshToken), 'invalid_grant');
  });
});
