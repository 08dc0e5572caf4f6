import { jest } from '@jest/globals';
import type { Gatehouse } from '../../../src/app.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { startSecondNode } from '../../support/nodes.js';
import { hasRedisServer, RedisCluster } from '../../support/redis-cluster.js';
import { RelyingParty } from '../../support/relying-party.js';
import { until } from '../../support/until.js';

// docs/scaling.md: "give each master a replica so that a lost master fails over instead of taking
// its tenants down". A real Redis Cluster of 3 masters with a replica each under two Gatehouse
// nodes: a master killed under them is replaced by its replica, and both nodes follow it without
// a restart (the cluster client learnt slots only on MOVED, which a dead master never sends).
const why = !hasRedisServer() ? 'redis-server is not installed (apt-get install redis-server)'
  : !process.env.DATABASE_URL ? 'two nodes need a shared PostgreSQL (DATABASE_URL); the embedded database belongs to one process'
    : undefined;
if (why) console.warn(`redis-cluster-failover.test.ts skipped: ${why}`);
const describeIfCluster = why ? describe.skip : describe;

jest.setTimeout(150_000);

let cluster: RedisCluster;
let gh: TestGatehouse;
let nodeB: Gatehouse;

beforeAll(async () => {
  if (why) return;
  cluster = await RedisCluster.start(3, 1);
  // Every node of the cluster is a root node, as an operator lists them; the one killed included.
  gh = await startTestGatehouse({ redisUrl: undefined, redisClusterNodes: cluster.nodes });
  nodeB = (await startSecondNode(gh, { sharedKv: true }))!;
}, 180_000);
afterAll(async () => {
  if (why) return;
  await nodeB?.close();
  await gh?.stop();
  await cluster?.stop();
});

describeIfCluster('two nodes on a Redis Cluster with replicas, one master killed', () => {
  it('follow the promoted replica without a restart: /readyz, logins and refreshes come back on both nodes, never a 500', async () => {
    const tenant: Tenant = await gh.tenant();
    const user = await gh.user(tenant);
    const app = await gh.client(tenant);
    const rpA = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app });
    const rpB = await RelyingParty.discover({ issuer: `${nodeB.url}/t/${tenant.slug}`, ...app });
    const before = await rpA.login(user);
    expect(before.refresh_token).toBeTruthy();

    // The master holding this tenant's keys ({tenant} hash tag), killed while both nodes use it.
    const lost = await cluster.masterOf(`{${tenant.id}}`);
    const survivor = cluster.ports.find((p) => p !== lost)!;
    await cluster.kill(lost);
    killed.add(lost);
    // Its replica takes over after cluster-node-timeout (2 s) and a vote.
    expect(await until(async () => {
      const master = await cluster.masterOf(`{${tenant.id}}`, survivor);
      return master !== lost && (await cluster.cli(survivor, 'CLUSTER', 'INFO')).includes('cluster_state:ok');
    }, 30_000)).toBe(true);

    // Both nodes find the new master by themselves within seconds (the old address still refuses).
    for (const base of [gh.url, nodeB.url]) {
      expect(await until(async () => (await fetch(`${base}/readyz`)).status === 200, 15_000)).toBe(true);
    }
    const onA = await rpA.login(user);
    expect(onA.claims()?.sub).toBe(user.id);
    const onB = await rpB.login(user);
    expect(onB.claims()?.sub).toBe(user.id);
    // A refresh token issued before the loss still works on the other node.
    expect((await rpB.refresh(before.refresh_token!)).access_token).toBeTruthy();
    expect(logLines.join('\n')).not.toMatch(/request\.failed|provider\.server_error/);
    expect(logLines.some((l) => l.includes('kv.cluster_slots_changed'))).toBe(true);
  });

  it('follow a frozen master\'s replica with no traffic but the balancer\'s /readyz, and take the master back as a replica', async () => {
    // A tenant on a master that still has a replica (the first test left one master without).
    let tenant: Tenant | undefined;
    let frozen = 0;
    for (let i = 0; i < 40 && !tenant; i++) {
      const candidate = await gh.tenant();
      const master = await cluster.masterOf(`{${candidate.id}}`, cluster.ports.find((p) => p !== frozen && isUp(p))!);
      if ((await cluster.cli(master, 'INFO', 'replication')).includes('connected_slaves:1')) [tenant, frozen] = [candidate, master];
    }
    expect(tenant).toBeDefined();
    const user = await gh.user(tenant!);
    const app = await gh.client(tenant!);
    await (await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant!.slug}`, ...app })).login(user);

    cluster.freeze(frozen);
    const survivor = cluster.ports.find((p) => p !== frozen && isUp(p))!;
    try {
      expect(await until(async () => (await cluster.masterOf(`{${tenant!.id}}`, survivor)) !== frozen, 30_000)).toBe(true);
      // Only readiness probes reach the nodes (a balancer has taken them out): they alone must do.
      const probe = async (base: string) => (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
      expect(await until(async () => (await probe(gh.url)) && (await probe(nodeB.url)), 15_000, 500)).toBe(true);
      for (const base of [gh.url, nodeB.url]) {
        const rp = await RelyingParty.discover({ issuer: `${base}/t/${tenant!.slug}`, ...app });
        expect((await rp.login(user)).claims()?.sub).toBe(user.id);
      }
    } finally {
      cluster.resume(frozen);
    }
    // The old master comes back as a replica of the new one: nothing changes for the nodes.
    expect(await until(async () => (await cluster.cli(frozen, 'INFO', 'replication')).includes('role:slave'), 15_000)).toBe(true);
    const rp = await RelyingParty.discover({ issuer: `${nodeB.url}/t/${tenant!.slug}`, ...app });
    expect((await rp.login(user)).claims()?.sub).toBe(user.id);
    expect(logLines.join('\n')).not.toMatch(/request\.failed|provider\.server_error/);
  });
});

/** Nodes this file killed are down for good. */
const killed = new Set<number>();
const isUp = (port: number) => !killed.has(port);
