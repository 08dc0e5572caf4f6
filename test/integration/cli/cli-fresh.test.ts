import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freshDatabase } from '../../support/gatehouse.js';

// A checkout's first command: no GATEHOUSE_MASTER_KEY, an empty data folder.
let db: Awaited<ReturnType<typeof freshDatabase>>;
let home: string;
const dataDir = () => path.join(home, 'data');

function gatehouse(args: string[]) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_DATA_DIR: dataDir(), BCRYPT_COST: '4' };
  if (db.url) env.DATABASE_URL = db.url;
  const res = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

beforeAll(async () => {
  db = await freshDatabase();
  home = mkdtempSync(path.join(tmpdir(), 'gh-cli-fresh-'));
});
afterAll(async () => {
  rmSync(home, { recursive: true, force: true });
  await db.drop();
});

describe('gatehouse CLI on a fresh checkout', () => {
  it('prints only the JSON object on stdout; the generated-key warning goes to stderr', () => {
    const res = gatehouse(['tenant', 'create', 'fresh-acme', '--json']);
    expect(res.code).toBe(0);
    // `gatehouse … --json | jq` must work: the whole of stdout is one JSON document.
    expect(JSON.parse(res.stdout)).toMatchObject({ slug: 'fresh-acme' });
    expect(res.stderr).toContain('GATEHOUSE_MASTER_KEY is not set');
    expect(res.stdout).not.toContain('master');
  });

  it('keeps the data folder it made private to its owner', () => {
    expect(statSync(dataDir()).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dataDir(), 'master.key')).mode & 0o777).toBe(0o600);
  });
});
