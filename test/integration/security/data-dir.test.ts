import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGatehouse } from '../../../src/app.js';
import type { Config } from '../../../src/config/load.js';
import { holdDataDir } from '../../../src/db/lock.js';
import { freshDatabase } from '../../support/gatehouse.js';

// The embedded data folder holds the database files (PGlite writes them 0666) and, without
// GATEHOUSE_MASTER_KEY, the master key: no other local user may read into it.
let home: string;
beforeAll(() => {
  home = mkdtempSync(path.join(tmpdir(), 'gh-data-dir-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;

/** Starts a server as `npm start` does (main.ts holds the folder first), without a master key. */
async function startOn(dataDir: string) {
  const db = await freshDatabase();
  const config: Config = {
    production: false, port: 0, publicUrl: '', publicUrlFixed: false, trustProxy: [], outboundAllow: [],
    databaseUrl: db.url, redisUrl: process.env.REDIS_URL || undefined, dataDir,
    bootstrap: {}, bcryptCost: 4, logLevel: 'debug',
  };
  if (!config.databaseUrl) holdDataDir(dataDir);
  const gh = await startGatehouse(config, { kvPrefix: `ghtest:${randomBytes(4).toString('hex')}:` });
  return async () => {
    await gh.close();
    await db.drop();
  };
}

describe('the embedded data folder', () => {
  it('is created private to its owner, with the generated master key readable by it alone', async () => {
    const dataDir = path.join(home, 'fresh', 'data');
    const stop = await startOn(dataDir);
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(path.join(dataDir, 'master.key'))).toBe(0o600);
      if (!process.env.DATABASE_URL) expect(mode(path.join(dataDir, 'pg'))).toBe(0o700);
    } finally {
      await stop();
    }
  });

  it('is tightened when it already exists open to everyone', async () => {
    const dataDir = path.join(home, 'existing');
    mkdirSync(path.join(dataDir, 'pg'), { recursive: true });
    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'pg'), 0o777);
    writeFileSync(path.join(dataDir, 'master.key'), `${randomBytes(32).toString('base64')}\n`);
    chmodSync(path.join(dataDir, 'master.key'), 0o644);
    const stop = await startOn(dataDir);
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(path.join(dataDir, 'master.key'))).toBe(0o600);
      if (!process.env.DATABASE_URL) expect(mode(path.join(dataDir, 'pg'))).toBe(0o700);
    } finally {
      await stop();
    }
  });
});
