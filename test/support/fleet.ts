import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './outages.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

function has(command: string, args = ['--version']) {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** PostgreSQL's server binaries (initdb, pg_ctl) from Debian's package, or undefined. */
export function postgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const version = readdirSync(base).filter((v) => existsSync(path.join(base, v, 'bin/initdb'))).sort((a, b) => Number(b) - Number(a))[0];
  return version ? path.join(base, version, 'bin') : undefined;
}

export const hasHaproxy = () => has('haproxy', ['-v']);

/** Builds dist/ when it is missing or stale (scripts/ensure-built.mjs), as `npm start` does. */
export function ensureBuilt() {
  execFileSync(process.execPath, [path.join(root, 'scripts/ensure-built.mjs')], { cwd: root, stdio: 'ignore', timeout: 240_000 });
}

/**
 * A PostgreSQL server of this test alone (initdb in a temporary folder, run as the `postgres`
 * user through runuser, trust authentication on 127.0.0.1 and a free port), to stop, start and
 * restart without touching the machine's own server.
 */
export class PrivatePostgres {
  readonly dir: string;
  port = 0;
  private constructor(private readonly bin: string) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'gh-pg-'));
  }

  static async start(): Promise<PrivatePostgres> {
    const bin = postgresBin();
    if (!bin) throw new Error('PostgreSQL server binaries are not installed');
    const server = new PrivatePostgres(bin);
    server.port = await freePort();
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(server.dir, uid, gid);
    await server.#as('initdb', ['-D', server.data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    await server.start();
    return server;
  }

  get data() {
    return path.join(this.dir, 'data');
  }

  url(database = 'postgres') {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  #as(tool: string, args: string[]) {
    return run('runuser', ['-u', 'postgres', '--', path.join(this.bin, tool), ...args], { timeout: 60_000 });
  }

  async start() {
    await this.#as('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'server.log'), '-w', '-t', '60', '-o',
      `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off -c max_connections=200`, 'start']);
  }

  /** Fast shutdown: every session is cut, as when the server is restarted or fails over. */
  async stop() {
    await this.#as('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']).catch(() => {});
  }

  async query(sql: string, params: unknown[] = [], database = 'postgres') {
    const client = new pg.Client({ connectionString: this.url(database) });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  async destroy() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `node dist/src/main.js` with `env`: a Gatehouse node as an operator runs it. */
export class NodeProcess {
  readonly lines: string[] = [];
  #child?: ChildProcess;
  exitedAt?: number;

  constructor(readonly name: string, readonly port: number, private readonly env: Record<string, string>) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get running() {
    return Boolean(this.#child && this.#child.exitCode === null && this.#child.signalCode === null);
  }

  async start(readyWithinMs = 90_000) {
    const child = spawn(process.execPath, [path.join(root, 'dist/src/main.js')], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.exitedAt = undefined;
    child.once('exit', () => {
      this.exitedAt = Date.now();
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop()!;
        this.lines.push(...parts.filter(Boolean));
      });
    }
    const until = Date.now() + readyWithinMs;
    while (Date.now() < until) {
      if (!this.running) throw new Error(`${this.name} exited at start:\n${this.lines.slice(-20).join('\n')}`);
      const ok = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
      if (ok) return;
      await sleep(200);
    }
    throw new Error(`${this.name} was not ready within ${readyWithinMs} ms:\n${this.lines.slice(-20).join('\n')}`);
  }

  /** Sends `signal` and resolves once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    const child = this.#child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

/**
 * HAProxy from Debian's package in front of `servers`, round robin, each checked on GET /readyz
 * every 300 ms (down after 2 failed checks); a connection refused is retried on another server.
 * Its admin socket tells when it marked a server down.
 */
export class Haproxy {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'gh-haproxy-'));
  #child?: ChildProcess;
  readonly output: string[] = [];

  /** `port`: a free port, known before the nodes start (it is their PUBLIC_URL). */
  constructor(private readonly servers: { name: string; port: number }[], readonly port: number) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get socket() {
    return path.join(this.dir, 'admin.sock');
  }

  config() {
    return [
      'global',
      `  stats socket ${this.socket} mode 600 level admin`,
      '  maxconn 1024',
      'defaults',
      '  mode http',
      '  option forwardfor',
      '  timeout connect 1s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  retries 2',
      '  option redispatch 1',
      'frontend gatehouse',
      `  bind 127.0.0.1:${this.port}`,
      '  default_backend nodes',
      'backend nodes',
      '  balance roundrobin',
      '  option httpchk GET /readyz',
      '  http-check expect status 200',
      '  default-server inter 300ms fastinter 300ms downinter 500ms fall 2 rise 2',
      ...this.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check`),
      '',
    ].join('\n');
  }

  async start() {
    const file = path.join(this.dir, 'haproxy.cfg');
    writeFileSync(file, this.config());
    execFileSync('haproxy', ['-c', '-q', '-f', file]);
    const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    for (const s of [child.stdout!, child.stderr!]) s.on('data', (d) => this.output.push(String(d)));
    // HAProxy accepts on its port before its admin socket exists (measured: more than half of the
    // starts here), so it is ready once both answer, and the socket is this process's.
    const listens = () => new Promise<boolean>((resolve) => net.connect(this.port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
    const ours = () => this.command('show info').then((info) => new RegExp(`^Pid: ${child.pid}$`, 'm').test(info), () => false);
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (await listens() && await ours()) return;
      await sleep(50);
    }
    throw new Error(`haproxy did not start (port ${this.port}, ${this.socket}): ${this.output.join('')}`);
  }

  /** One admin-socket command's answer. */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.socket);
      let out = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => (out += d));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
      socket.write(`${line}\n`);
    });
  }

  /** Each server's status as HAProxy sees it (UP, DOWN, "UP 1/2"...). */
  async statuses(): Promise<Record<string, string>> {
    const csv = await this.command('show stat');
    const header = csv.split('\n')[0].replace(/^# /, '').split(',');
    const [px, sv, status] = ['pxname', 'svname', 'status'].map((h) => header.indexOf(h));
    const out: Record<string, string> = {};
    for (const row of csv.split('\n').slice(1)) {
      const cells = row.split(',');
      if (cells[px] === 'nodes' && cells[sv] !== 'BACKEND') out[cells[sv]] = cells[status];
    }
    return out;
  }

  async stop() {
    const child = this.#child;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One operation of a load run: when it started and ended, and how it went. */
export interface Outcome {
  kind: string;
  start: number;
  end: number;
  ok: boolean;
  status?: number;
  detail?: string;
}

/**
 * `workers` loops, each with one operation in flight at a time, until stop(): the steady load
 * an outside client puts on the service. `operation` returns the HTTP status it ended with
 * (throws for a transport failure).
 */
export class Load {
  readonly outcomes: Outcome[] = [];
  #running = true;
  #loops: Promise<void>[] = [];

  constructor(private readonly operations: { kind: string; run: () => Promise<{ ok: boolean; status?: number; detail?: string }> }[], readonly workers: number) {}

  start() {
    for (let w = 0; w < this.workers; w++) {
      const op = this.operations[w % this.operations.length];
      this.#loops.push((async () => {
        while (this.#running) {
          const start = Date.now();
          try {
            const r = await op.run();
            this.outcomes.push({ kind: op.kind, start, end: Date.now(), ...r });
          } catch (err) {
            this.outcomes.push({ kind: op.kind, start, end: Date.now(), ok: false, detail: `${(err as Error)?.name}: ${(err as Error)?.message} ${(err as { cause?: Error })?.cause?.message ?? ''}` });
            await sleep(50);
          }
        }
      })());
    }
    return this;
  }

  async stop() {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}
