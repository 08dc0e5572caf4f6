import { jest } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/outages.js';
import { until } from '../../support/until.js';

// npm start's banner: one JSON log line on stderr saying what to do next, given what exists.
jest.setTimeout(300_000);
let home: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  home = mkdtempSync(path.join(tmpdir(), 'gh-banner-'));
  env = { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_DATA_DIR: path.join(home, 'data'), GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'), BCRYPT_COST: '4', PORT: String(await freePort()) };
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** Starts the compiled server, returns the parsed banner and every stderr line, then stops it. */
async function banner(extra: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [path.resolve('dist/src/main.js')], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner: ${stderr}`)), 180_000);
    child.stderr.on('data', (d) => {
      stderr += d;
      const found = stderr.split('\n').find((l) => l.includes('"server.ready"'));
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  const ours = stderr.split('\n').filter((l) => l && !l.includes('oidc-provider WARNING'));
  return { banner: JSON.parse(line), ours, logs: stdout.split('\n').filter(Boolean) };
}

it('says how to create the first tenant, then names the tenants there are', async () => {
  const url = `http://localhost:${env.PORT}`;
  const first = await banner();
  expect(first.ours).toHaveLength(1); // the banner alone
  expect(first.banner).toMatchObject({ level: 'info', message: 'server.ready', url, version: expect.any(String), tenants: 0, admin_api: `${url}/admin/v1` });
  expect(first.banner.next).toContain('npx gatehouse tenant create acme');
  expect(first.banner.next).toContain('GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID');

  const created = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), 'tenant', 'create', 'banner-acme'], { env, encoding: 'utf8', timeout: 180_000 });
  expect(created.status).toBe(0);

  const second = await banner();
  expect(second.banner).toMatchObject({ tenants: 1, discovery: [`${url}/t/banner-acme/.well-known/openid-configuration`], admin_api: `${url}/admin/v1` });
  expect(second.banner.next).not.toContain('No tenant yet');
});

it('warns when GATEHOUSE_MASTER_KEY_PREVIOUS is left in the server\'s environment, never printing it', async () => {
  const previous = randomBytes(32).toString('base64');
  const { logs } = await banner({ GATEHOUSE_MASTER_KEY_PREVIOUS: previous });
  const warning = logs.map((l) => JSON.parse(l)).find((l) => l.message === 'config.master_key_previous_set');
  expect(warning).toMatchObject({ level: 'warn', detail: expect.stringContaining('Remove it from the server') });
  expect(logs.join('\n')).not.toContain(previous);
  expect((await banner()).logs.join('\n')).not.toContain('config.master_key_previous_set');
});

it('gives an admin token command that works as printed, the secret read from the environment', async () => {
  const secret = randomBytes(32).toString('hex');
  const extra = { GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: 'banner-admin', GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: secret };
  const child = spawn(process.execPath, [path.resolve('dist/src/main.js')], { env: { ...env, ...extra }, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    let stderr = '';
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${stderr}`)), 180_000);
      child.stderr!.on('data', (d) => {
        stderr += d;
        const found = stderr.split('\n').find((l) => l.includes('"server.ready"'));
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    });
    const command = /admin token: (.*)$/.exec(JSON.parse(line).next)![1];
    expect(command).not.toContain(secret);
    const res = spawnSync('sh', ['-c', command], { env: { PATH: process.env.PATH, GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: secret }, encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(res.stdout)).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer' });
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

// npm runs the script under `sh -c`: where that is dash (Debian, Ubuntu), the shell ends on the
// signal npm passes on and the server, started by npm, must notice its parent gone; where it is
// bash, the shell hands its process over and the signal reaches the server itself.
it('stops, drained, when `npm start` itself is sent SIGTERM (npm passes it on to the shell it runs the script in)', async () => {
  const port = await freePort();
  // A group of its own, so whatever outlives npm (a server left running: the failure) is stopped below.
  const npm = spawn('npm', ['start'], { env: { ...env, PORT: String(port), npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  npm.stdout!.on('data', (d) => (out += d));
  npm.stderr!.on('data', (d) => (out += d));
  try {
    expect(await until(async () => out.includes('"server.ready"'), 180_000)).toBe(true);
    const exited = new Promise((resolve) => npm.once('exit', resolve));
    process.kill(npm.pid!, 'SIGTERM');
    await exited;
    expect(await until(async () => out.includes('"server.stopped"'), 25_000)).toBe(true);
    expect(out).toContain('"server.draining"');
    // Nothing listens on the port any more: the server did not outlive npm.
    const refused = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  } finally {
    try {
      process.kill(-npm.pid!, 'SIGKILL');
    } catch {
      // the group has ended
    }
  }
});
