import { jest } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as jose from 'jose';
import type { Gatehouse } from '../../../src/app.js';
import { createDb, type Db } from '../../../src/db/knex.js';
import { CLI_ACTOR, type Deps } from '../../../src/deps.js';
import { removeClient, rotateClientSecret, setClientRoles } from '../../../src/domain/clients/clients.service.js';
import { CHANGE_CHANNEL, encodeChange } from '../../../src/domain/changes.js';
import { rotateSigningKey } from '../../../src/domain/keys/keys.service.js';
import { insertRole } from '../../../src/domain/rbac/rbac.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { ClientAdapter } from '../../../src/provider/adapters/clients.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { heard, startSecondNode } from '../../support/nodes.js';

/**
 * Node A caches tenants, clients, keys and client grants; a change written elsewhere must hold
 * on A's next request once A has heard of it. "Elsewhere" is a second Gatehouse on the same
 * PostgreSQL (DATABASE_URL), or on PGlite, where one process owns the database, a writer on the
 * same connection that only announces through NOTIFY (as another process would).
 */
const API = 'https://api.example.com/feed';
let gh: TestGatehouse;
let writer: Db;
let nodeB: Gatehouse | undefined;

beforeAll(async () => {
  gh = await startTestGatehouse();
  writer = gh.config.databaseUrl ? createDb({ databaseUrl: gh.config.databaseUrl, dataDir: gh.config.dataDir }) : gh.deps.db;
  nodeB = await startSecondNode(gh);
});
afterAll(async () => {
  await nodeB?.close();
  if (writer !== gh.deps.db) await writer.destroy();
  await gh.stop();
});


async function token(t: Tenant, clientId: string, secret: string) {
  const res = await fetch(`${gh.url}/t/${t.slug}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read write' }),
  });
  return { status: res.status, body: (await res.json()) as { access_token?: string; scope?: string; error?: string } };
}

async function setup() {
  const t = await gh.tenant();
  const resourceId = randomUUID();
  await gh.deps.db('resources').insert({ tenant_id: t.id, id: resourceId, identifier: API, name: 'Feed' });
  await gh.deps.db('permissions').insert(['read', 'write'].map((name) => ({ tenant_id: t.id, resource_id: resourceId, name })));
  for (const [name, permission] of [['reader', 'read'], ['writer', 'write']]) {
    const role = await insertRole(gh.deps.db, t.id, { name });
    await gh.deps.db('role_permissions').insert({ tenant_id: t.id, role_id: role.id, resource_id: resourceId, permission });
  }
  const app = await gh.client(t, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] }, ['reader']);
  // Warm A's caches: the tenant, its provider and keys, the client, and its grant on API.
  expect((await token(t, app.clientId, app.clientSecret!)).body.scope).toBe('read');
  return { t, app };
}

const twoNodes = process.env.DATABASE_URL ? describe : describe.skip;

twoNodes('a change made on node B (same PostgreSQL) holds on node A', () => {
  const depsB = () => nodeB!.deps as Deps;

  it('a rotated client secret', async () => {
    const { t, app } = await setup();
    const seen = heard(gh.registry, t.id, 'clients');
    const secret = await rotateClientSecret(depsB(), t, app.clientId, CLI_ACTOR);
    await seen;
    expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
    expect((await token(t, app.clientId, secret)).status).toBe(200);
  });

  it('a deleted client', async () => {
    const { t, app } = await setup();
    const seen = heard(gh.registry, t.id, 'clients');
    await removeClient(depsB(), t, app.clientId, CLI_ACTOR);
    await seen;
    expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
  });

  it('a changed role assignment, from the next token on', async () => {
    const { t, app } = await setup();
    const seen = heard(gh.registry, t.id, 'rbac');
    await setClientRoles(depsB(), t, app.clientId, ['writer'], CLI_ACTOR);
    await seen;
    expect((await token(t, app.clientId, app.clientSecret!)).body.scope).toBe('write');
  });

  it('a rotated signing key', async () => {
    const { t, app } = await setup();
    const seen = heard(gh.registry, t.id, 'keys');
    const { kid } = await rotateSigningKey(depsB(), t, 'ES256', CLI_ACTOR);
    await seen;
    const { body } = await token(t, app.clientId, app.clientSecret!);
    expect(jose.decodeProtectedHeader(body.access_token!)).toMatchObject({ kid, alg: 'ES256' });
    const jwks = (await (await fetch(`${gh.url}/t/${t.slug}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(kid);
  });

  it('forgets everything when its LISTEN connection is cut, and listens again', async () => {
    const { t, app } = await setup();
    const feed = gh.registry.changes!;
    const down = new Promise((resolve) => feed.once('live', resolve));
    await writer.raw(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query = ?`, [`LISTEN ${CHANGE_CHANNEL}`]);
    await down;
    // Written without any announcement while A was deaf: A must not answer from its old copy.
    const secret = `s-${randomBytes(32).toString('base64url')}`;
    await writer('clients').where({ tenant_id: t.id, client_id: app.clientId }).update({ secret_hash: gh.deps.secrets.hashClientSecret(secret) });
    expect((await token(t, app.clientId, secret)).status).toBe(200);
    if (!feed.live) await new Promise((resolve) => feed.once('live', resolve));
    expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
    const seen = heard(gh.registry, t.id, 'clients');
    await removeClient(depsB(), t, app.clientId, CLI_ACTOR);
    await seen;
    expect((await token(t, app.clientId, secret)).body.error).toBe('invalid_client');
  });

  // A firewall or NAT that drops an idle connection without a word, or a server process that
  // hangs: the LISTEN connection delivers nothing and reports nothing. The server processes of the
  // listening connections (both nodes') are stopped here with SIGSTOP, which needs the database on
  // this machine and the right to signal its processes (CI runs as root).
  it('forgets everything when its LISTEN connection stops answering, within seconds', async () => {
    const { t, app } = await setup();
    const feed = gh.registry.changes!;
    const pids = ((await writer.raw(`select pid from pg_stat_activity where datname = current_database() and query = ?`, [`LISTEN ${CHANGE_CHANNEL}`])).rows as { pid: number }[]).map((r) => Number(r.pid));
    expect(pids.length).toBeGreaterThan(0);
    const stopped: number[] = [];
    try {
      for (const pid of pids) {
        process.kill(pid, 'SIGSTOP');
        stopped.push(pid);
      }
    } catch {
      for (const pid of stopped) process.kill(pid, 'SIGCONT');
      return console.warn('change-feed: cannot signal the PostgreSQL server processes (another user or machine): the hung-connection case is not tried');
    }
    try {
      const down = new Promise((resolve) => feed.once('live', resolve));
      const secret = await rotateClientSecret(depsB(), t, app.clientId, CLI_ACTOR);
      // The heartbeat finds the connection silent within seconds (a bounded wait, so that the
      // server processes are resumed below whatever happens).
      expect(await Promise.race([down.then(() => true), sleep(15_000).then(() => false)])).toBe(true);
      expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
      expect((await token(t, app.clientId, secret)).status).toBe(200);
    } finally {
      for (const pid of stopped) process.kill(pid, 'SIGCONT');
    }
    if (!feed.live) await new Promise((resolve) => feed.once('live', resolve));
    const seen = heard(gh.registry, t.id, 'clients');
    await removeClient(depsB(), t, app.clientId, CLI_ACTOR);
    await seen;
    expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
  }, 60_000);
});

describe('a change announced only through Postgres NOTIFY', () => {
  it('drops the cached client on the next request', async () => {
    const { t, app } = await setup();
    const secret = `s-${randomBytes(32).toString('base64url')}`;
    const seen = heard(gh.registry, t.id, 'clients');
    // What another process does: the write and its NOTIFY in one transaction (delivered on commit).
    await writer.transaction(async (trx) => {
      await trx('clients').where({ tenant_id: t.id, client_id: app.clientId }).update({ secret_hash: gh.deps.secrets.hashClientSecret(secret) });
      await trx.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, encodeChange({ tenantId: t.id, area: 'clients' })]);
    });
    await seen;
    expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
    expect((await token(t, app.clientId, secret)).status).toBe(200);
  });
});

describe('a change made on this node', () => {
  it("keeps the provider's client between requests, and reads it again after a change", async () => {
    const { t, app } = await setup();
    const reads = jest.spyOn(ClientAdapter.prototype, 'find');
    try {
      for (let i = 0; i < 5; i++) expect((await token(t, app.clientId, app.clientSecret!)).status).toBe(200);
      // Without the kept Client, each of the five reads the client. With it, none does, or one: on
      // PostgreSQL the NOTIFY of the client's own creation may still arrive and drop the cache once.
      expect(reads.mock.calls.length).toBeLessThanOrEqual(1);
      reads.mockClear();
      const secret = await rotateClientSecret(gh.deps, t, app.clientId, CLI_ACTOR);
      expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
      expect((await token(t, app.clientId, secret)).status).toBe(200);
      expect(reads).toHaveBeenCalledWith(app.clientId);
    } finally {
      reads.mockRestore();
    }
  });

  it('holds for the very next request, without waiting for NOTIFY', async () => {
    const { t, app } = await setup();
    const secret = await rotateClientSecret(gh.deps, t, app.clientId, CLI_ACTOR);
    expect((await token(t, app.clientId, app.clientSecret!)).body.error).toBe('invalid_client');
    await setClientRoles(gh.deps, t, app.clientId, ['writer'], CLI_ACTOR);
    expect((await token(t, app.clientId, secret)).body.scope).toBe('write');
  });
});
