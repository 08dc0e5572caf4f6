import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGatehouse } from '../../../src/app.js';
import { ConfigError, type Config } from '../../../src/config/load.js';
import { freePort, PrivateRedis } from '../../support/outages.js';
import { freshDatabase } from '../../support/gatehouse.js';

// A REDIS_URL or DATABASE_URL that points at nothing stops the start at once with one line naming
// the variable and what is wrong (the orchestrator's restarts are the retries), never a silent hang.
let db: Awaited<ReturnType<typeof freshDatabase>>;
let redis: PrivateRedis;
beforeAll(async () => {
  db = await freshDatabase();
  redis = new PrivateRedis(await freePort());
  await redis.start();
});
afterAll(async () => {
  await redis.stop();
  await db.drop();
});

const config = (overrides: Partial<Config>): Config => ({
  production: false, port: 0, publicUrl: '', publicUrlFixed: false, trustProxy: [], databaseUrl: db.url, dataDir: db.dataDir!,
  masterKey: randomBytes(32).toString('base64'), bootstrap: {}, bcryptCost: 4, logLevel: 'debug', outboundAllow: [], ...overrides,
});

async function refusal(overrides: Partial<Config>) {
  const started = Date.now();
  const err = await startGatehouse(config(overrides), { kvPrefix: 'ghtest:unreachable:' }).then(async (gh) => {
    await gh.close();
    return undefined;
  }, (e) => e);
  return { err, ms: Date.now() - started };
}

describe('storage that cannot be reached at start', () => {
  it('REDIS_URL at a closed port: refused at once, naming REDIS_URL', async () => {
    const port = await freePort();
    const { err, ms } = await refusal({ redisUrl: `redis://127.0.0.1:${port}/0` });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`REDIS_URL: connection refused at 127.0.0.1:${port}`);
    expect(ms).toBeLessThan(5000);
  });

  it('REDIS_URL with a database index the server does not have: refused, naming the index', async () => {
    const { err } = await refusal({ redisUrl: `redis://127.0.0.1:${redis.port}/99` });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`REDIS_URL: database 99 does not exist on 127.0.0.1:${redis.port}`);
  });

  it('REDIS_CLUSTER_NODES at a closed port: refused at once, naming REDIS_CLUSTER_NODES (it wins over REDIS_URL)', async () => {
    const port = await freePort();
    const { err, ms } = await refusal({ redisUrl: redis.url, redisClusterNodes: [`127.0.0.1:${port}`] });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`REDIS_CLUSTER_NODES: cannot reach a cluster at 127.0.0.1:${port} (no node answered)`);
    expect(ms).toBeLessThan(5000);
  });

  it('REDIS_CLUSTER_NODES at a Redis that is not a cluster: refused, naming REDIS_CLUSTER_NODES and giving the server\'s reason', async () => {
    const { err, ms } = await refusal({ redisClusterNodes: [`127.0.0.1:${redis.port}`] });
    expect(err).toBeInstanceOf(ConfigError);
    // The server's own reason (Redis: "ERR This instance has cluster support disabled").
    expect(err.message).toMatch(new RegExp(`^REDIS_CLUSTER_NODES: cannot reach a cluster at 127\\.0\\.0\\.1:${redis.port} \\(a node refused: ERR [^)]*cluster support disabled\\)$`));
    expect(err.message).not.toContain('\n');
    expect(ms).toBeLessThan(5000);
  });

  it('DATABASE_URL at a closed port: refused at once, naming DATABASE_URL', async () => {
    const port = await freePort();
    const { err, ms } = await refusal({ databaseUrl: `postgres://root@127.0.0.1:${port}/gatehouse` });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`DATABASE_URL: connection refused at 127.0.0.1:${port}`);
    expect(ms).toBeLessThan(5000);
  });

  it.each([
    ['REDIS_URL', (port: number) => ({ redisUrl: `redis://127.0.0.1:${port}/0` }), 'Socket closed unexpectedly'],
    ['DATABASE_URL', (port: number) => ({ databaseUrl: `postgres://root@127.0.0.1:${port}/gatehouse` }), 'Connection terminated unexpectedly'],
  ])('%s at something that accepts and hangs up: refused at once, saying so (not "(Error)")', async (variable, settings, reason) => {
    // What a proxy or firewall in front of nothing does: the connection opens, then closes.
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const { err, ms } = await refusal(settings(port));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toBe(`${variable}: cannot connect to 127.0.0.1:${port} (${reason})`);
      expect(ms).toBeLessThan(8000);
    } finally {
      server.close();
    }
  });

  it('npm start (src/main.ts) prints the one line and exits 1', async () => {
    const port = await freePort();
    const home = mkdtempSync(path.join(tmpdir(), 'gh-unreachable-'));
    try {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_DATA_DIR: path.join(home, 'data'), PORT: String(port), LOG_LEVEL: 'debug', REDIS_URL: 'redis://127.0.0.1:1/0' };
      const res = spawnSync(process.execPath, [path.resolve('node_modules/tsx/dist/cli.mjs'), 'src/main.ts'], { env, encoding: 'utf8', timeout: 45_000 });
      expect(res.status).toBe(1);
      expect(res.stderr.trim().split('\n').pop()).toBe('REDIS_URL: connection refused at 127.0.0.1:1');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
