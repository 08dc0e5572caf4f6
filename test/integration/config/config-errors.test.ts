import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/outages.js';

// The compiled server (npm start) with one configuration mistake each: it stops with exit status
// 1 and exactly one line on stderr naming the variable, never a stack trace.
let home: string;
beforeAll(() => {
  home = mkdtempSync(path.join(tmpdir(), 'gh-config-errors-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

async function start(vars: Record<string, string>) {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_DATA_DIR: path.join(home, randomBytes(4).toString('hex')),
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'), PORT: String(await freePort()), ...vars,
  };
  // spawn, not spawnSync: a test's own silent server must keep answering connections meanwhile.
  const child = spawn(process.execPath, [path.resolve('dist/src/main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(killer);
  // Node 20 (development only) makes oidc-provider print a runtime warning; it is not ours.
  const lines = stderr.split('\n').filter((l) => l && !l.includes('oidc-provider WARNING'));
  return { code, lines };
}

function expectOneLine(res: { code: number | null; lines: string[] }, pattern: RegExp) {
  expect(res.code).toBe(1);
  expect(res.lines).toHaveLength(1);
  expect(res.lines[0]).toMatch(pattern);
  expect(res.lines[0]).not.toMatch(/\bat .*\.js:\d+/);
}

describe('a configuration mistake at start', () => {
  it('PUBLIC_URL that is not a URL', async () => {
    expectOneLine(await start({ PUBLIC_URL: 'notaurl' }), /^Invalid configuration: PUBLIC_URL must be a URL starting with http:\/\/ or https:\/\/$/);
  });

  it('PORT that is not a number', async () => {
    expectOneLine(await start({ PORT: 'abc' }), /^Invalid configuration: PORT must be a port number from 1 to 65535$/);
  });

  it('BCRYPT_COST out of range', async () => {
    expectOneLine(await start({ BCRYPT_COST: '99' }), /^Invalid configuration: BCRYPT_COST must be a whole number from 4 to 31/);
  });

  it('REDIS_URL that is not a redis URL, and one where nothing listens', async () => {
    expectOneLine(await start({ REDIS_URL: 'localhost:6379' }), /^Invalid configuration: REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\/$/);
    const port = await freePort();
    expectOneLine(await start({ REDIS_URL: `redis://127.0.0.1:${port}/0` }), new RegExp(`^REDIS_URL: connection refused at 127\\.0\\.0\\.1:${port}$`));
  });

  it('DATABASE_URL where nothing listens: refused, naming host and port', async () => {
    const port = await freePort();
    expectOneLine(await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/gatehouse` }), new RegExp(`^DATABASE_URL: connection refused at 127\\.0\\.0\\.1:${port}$`));
  });

  it('DATABASE_URL at a server that never answers: stops after a bounded wait', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s)); // accepts, never speaks
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      expectOneLine(await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/gatehouse` }), new RegExp(`^DATABASE_URL: no answer from 127\\.0\\.0\\.1:${port} within \\d+ s$`));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  // Needs a PostgreSQL server: the one of DATABASE_URL (.ci/run sets it), else this case is skipped.
  (process.env.DATABASE_URL ? it : it.skip)('DATABASE_URL naming a database that does not exist: says how to create it', async () => {
    const url = new URL(process.env.DATABASE_URL!);
    const name = `gh_missing_${randomBytes(4).toString('hex')}`;
    url.pathname = `/${name}`;
    const res = await start({ DATABASE_URL: url.toString() });
    expectOneLine(res, new RegExp(`^DATABASE_URL: database "${name}" does not exist on .*; create it with: createdb .*${name} \\(or in psql: CREATE DATABASE "${name}";\\)$`));
  });
});
