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
  });
});
