import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './outages.js';

const run = promisify(execFile);

/** redis-server and redis-cli are installed (Debian's redis-server package brings both). */
export function hasRedisServer() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A real Redis Cluster of `masters` masters (no replicas) for this test alone: one redis-server
 * per node in cluster mode, each in a folder of its own under a temporary directory, on free
 * ports; `redis-cli --cluster create` spreads the 16,384 slots over them.
 */
export class RedisCluster {
  readonly ports: number[] = [];
  #children: ChildProcess[] = [];
  #dir = '';

  get nodes() {
    return this.ports.map((p) => `127.0.0.1:${p}`);
  }

  static async start(masters = 3): Promise<RedisCluster> {
    const cluster = new RedisCluster();
    try {
      await cluster.#start(masters);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  async #start(masters: number) {
    this.#dir = mkdtempSync(path.join(tmpdir(), 'gh-redis-cluster-'));
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      this.ports.push(port);
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
        '--cluster-config-file', path.join(this.#dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
        '--dir', this.#dir, '--save', '', '--appendonly', 'no',
      ], { stdio: 'ignore' });
      this.#children.push(child);
    }
    for (const port of this.ports) {
      for (let i = 0; i < 100 && (await this.cli(port, 'PING').catch(() => '')) !== 'PONG'; i++) await sleep(50);
    }
    await run('redis-cli', ['--cluster', 'create', ...this.nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (let i = 0; i < 200; i++) {
      const states = await Promise.all(this.ports.map((p) => this.cli(p, 'CLUSTER', 'INFO').catch(() => '')));
      if (states.every((s) => s.includes('cluster_state:ok'))) return;
      await sleep(100);
    }
    throw new Error('the Redis Cluster did not reach cluster_state:ok');
  }

  /** One command on one node, as redis-cli prints it. */
  async cli(port: number, ...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 });
    return stdout.trim();
  }

  /** The port of the master serving `key`'s slot. */
  async masterOf(key: string): Promise<number> {
    const slot = Number(await this.cli(this.ports[0], 'CLUSTER', 'KEYSLOT', key));
    const shards = await this.cli(this.ports[0], '--json', 'CLUSTER', 'SLOTS');
    for (const [from, to, master] of JSON.parse(shards) as [number, number, [string, number]][]) {
      if (slot >= from && slot <= to) return Number(master[1]);
    }
    throw new Error(`no master serves slot ${slot}`);
  }

  /** Keys whose names start with `prefix` that the node on `port` holds (no redirections). */
  async keysOn(port: number, prefix: string): Promise<string[]> {
    const out = await this.cli(port, '--scan', '--pattern', `${prefix}*`);
    return out ? out.split('\n') : [];
  }

  /** Kills the node on `port` (SIGKILL): a master lost, with no replica to take over its slots. */
  async kill(port: number) {
    const child = this.#children[this.ports.indexOf(port)];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop() {
    await Promise.all(this.#children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }));
    this.#children = [];
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
  }
}
