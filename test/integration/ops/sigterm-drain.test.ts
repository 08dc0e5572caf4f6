import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freshDatabase } from '../../support/gatehouse.js';
import { freePort } from '../../support/outages.js';

// DESIGN.md "Operations", with the real process (`node dist/src/main.js`) and a real SIGTERM:
// /readyz stops answering 200 at once, a request in flight finishes, idle keep-alive connections
// close, and the process exits 0 within 25 s.
let db: Awaited<ReturnType<typeof freshDatabase>>;
let home: string;
let server: ChildProcess | undefined;
let url: string;
let output = '';

beforeAll(async () => {
  db = await freshDatabase();
  home = mkdtempSync(path.join(tmpdir(), 'gh-sigterm-'));
  const built = spawnSync(process.execPath, [path.resolve('scripts/ensure-built.mjs')], { encoding: 'utf8', timeout: 300_000 });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(await freePort()), GATEHOUSE_DATA_DIR: path.join(home, 'data'), BCRYPT_COST: '4', LOG_LEVEL: 'warn',
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
  };
  if (db.url) env.DATABASE_URL = db.url;
  if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;
  server = spawn(process.execPath, [path.resolve('dist/src/main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (c) => (output += c));
  server.stderr!.on('data', (c) => (output += c));
  const deadline = Date.now() + 120_000;
  // The start banner: one server.ready log line carrying the URL (ops/banner.ts).
  const READY = /"message":"server\.ready"[^\n]*?"url":"(http:\/\/[^"]+)"|"url":"(http:\/\/[^"]+)"[^\n]*?"message":"server\.ready"/;
  while (!READY.test(output)) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`the server did not start:\n${output}`);
    await sleep(100);
  }
  const ready = READY.exec(output)!;
  url = (ready[1] ?? ready[2]).replace('localhost', '127.0.0.1');
}, 600_000);
afterAll(async () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
  await db.drop();
});

/** A POST whose body is sent in two halves; resolves with the raw answer once the server closes the connection. */
function slowPost(pathname: string, body: string) {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  let answer = '';
  socket.on('data', (c) => (answer += c));
  const ended = new Promise<string>((resolve) => socket.on('close', () => resolve(answer)));
  const half = Math.floor(body.length / 2);
  socket.write(`POST ${pathname} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`);
  return { finish: () => socket.write(body.slice(half)), ended };
}

it('on SIGTERM: not ready at once, the request in flight is answered, idle keep-alive connections close, exit 0 within 25 s', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const idle = await new Promise<net.Socket>((resolve, reject) => {
    let socket: net.Socket;
    const req = http.get(`${url}/healthz`, { agent }, (res) => {
      expect(res.headers.connection).toBe('keep-alive');
      res.resume();
      res.on('end', () => resolve(socket));
    });
    req.on('socket', (s) => (socket = s));
    req.on('error', reject);
  });
  const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  expect((await fetch(`${url}/readyz`)).status).toBe(200);

  const inFlight = slowPost('/t/system/token', 'grant_type=client_credentials&client_id=nobody&client_secret=wrong');
  await sleep(300); // the server holds the half-read request
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) => {
    const sent = Date.now();
    server!.once('exit', (code) => resolve({ code, ms: Date.now() - sent }));
  });
  server!.kill('SIGTERM');
  await sleep(300);

  // A new probe finds no ready node: 503 while the listener still answers, or a refused connection once it closed.
  const probe = await fetch(`${url}/readyz`).then((r) => r.status, () => 'refused');
  expect([503, 'refused']).toContain(probe);
  await idleClosed; // the idle keep-alive connection was closed by the server

  inFlight.finish();
  const answer = await inFlight.ended;
  expect(answer).toMatch(/^HTTP\/1\.1 (400|401) /); // the token endpoint's own answer, not a reset
  expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  expect(answer).toContain('invalid_client');

  const { code, ms } = await exited;
  expect(code).toBe(0);
  expect(ms).toBeLessThan(25_000);
  expect(output).not.toMatch(/server_error|request\.failed/);
  agent.destroy();
}, 120_000);
