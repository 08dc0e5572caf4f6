import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGatehouse } from '../../../src/app.js';
import { ConfigError, type Config } from '../../../src/config/load.js';
import { freshDatabase, logLines } from '../../support/gatehouse.js';

// DESIGN.md "Configuration": a master key that cannot decrypt what the database holds stops the
// start with one line naming GATEHOUSE_MASTER_KEY; the node never reports ready.
let db: Awaited<ReturnType<typeof freshDatabase>>;
const key = randomBytes(32).toString('base64');
const wrong = randomBytes(32).toString('base64');
const config = (masterKey: string): Config => ({
  production: false, port: 0, publicUrl: '', publicUrlFixed: false, trustProxy: [], databaseUrl: db.url, redisUrl: process.env.REDIS_URL || undefined,
  dataDir: db.dataDir!, masterKey, bootstrap: {}, bcryptCost: 4, logLevel: 'debug', outboundAllow: [],
});
const start = (masterKey: string) => startGatehouse(config(masterKey), { kvPrefix: `ghtest:${randomBytes(4).toString('hex')}:` });

beforeAll(async () => {
  db = await freshDatabase();
  const first = await start(key); // seals the check value and makes the system tenant's keys
  await first.close();
});
afterAll(() => db.drop());

describe('a master key that does not fit the database', () => {
  it('refuses the start with one line naming GATEHOUSE_MASTER_KEY', async () => {
    const refused = await start(wrong).then(() => undefined, (err) => err);
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused.message).toMatch(/^GATEHOUSE_MASTER_KEY: this key does not decrypt the data in this database \(its check value does not decrypt\)/);
    expect(refused.message).not.toContain('\n');
  });

  it('refuses in the CLI too: the line on stderr, exit 1', () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_DATA_DIR: db.dataDir, GATEHOUSE_MASTER_KEY: wrong, BCRYPT_COST: '4' };
    if (db.url) env.DATABASE_URL = db.url;
    const res = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), 'tenant', 'create', 'never-made'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/^gatehouse: GATEHOUSE_MASTER_KEY: this key does not decrypt/m);
    expect(res.stdout).toBe('');
  });

  it('names the data folder\'s master.key when the key came from it (GATEHOUSE_MASTER_KEY not set)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gh-keyfile-'));
    try {
      writeFileSync(path.join(dir, 'master.key'), `${wrong}\n`, { mode: 0o600 });
      // The key file in its own folder; the database as the other tests (PGlite keeps its data in db.dataDir).
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_DATA_DIR: db.url ? dir : db.dataDir, BCRYPT_COST: '4' };
      if (db.url) env.DATABASE_URL = db.url;
      else copyFileSync(path.join(dir, 'master.key'), path.join(db.dataDir!, 'master.key'));
      const res = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), 'tenant', 'create', 'never-made'], { env, encoding: 'utf8', timeout: 60_000 });
      expect(res.status).toBe(1);
      const keyFile = path.join(db.url ? dir : db.dataDir!, 'master.key');
      expect(res.stderr).toContain(`this key does not decrypt the data in this database (its check value does not decrypt); start with the key the database was set up with, or the new one once a master-key rotation has finished (GATEHOUSE_MASTER_KEY is not set: the key used is the content of ${keyFile})`);
      expect(res.stderr).not.toContain(wrong);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      if (!db.url) rmSync(path.join(db.dataDir!, 'master.key'), { force: true });
    }
  });

  it('gives a database from before the check a check value once its signing keys decrypt, and refuses a key they do not decrypt with', async () => {
    const admin = await start(key);
    await admin.deps.db('master_key_check').del();
    await admin.close();
    const refused = await start(wrong).then(() => undefined, (err) => err);
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused.message).toMatch(/^GATEHOUSE_MASTER_KEY: this key does not decrypt the data in this database \(signing key \S+ does not decrypt\)/);

    const again = await start(key);
    const res = await fetch(`${again.url}/readyz`);
    expect(await res.json()).toMatchObject({ checks: { master_key: true } });
    expect(await again.deps.db('master_key_check').count({ n: '*' }).first()).toMatchObject({ n: 1 });
    await again.close();
    expect(logLines.filter((l) => l.includes('"stack"'))).toEqual([]);
  });
});
