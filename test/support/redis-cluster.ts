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
 * A real Redis Cluster of `masters` masters, each with `replicas` replicas (none by default), for
 * this test alone: one redis-server per node in cluster mode, each in a folder of its own under a
 * temporary directory, on free ports; `redis-cli --cluster create` spreads the 16,384 slots over
 * the masters. A replica takes over its master's slots 2 s after losing it (cluster-node-timeout).
 */
export class RedisCluster {
  readonly ports: number[] = [];
  #children: ChildProcess[] = [];
  #dir = '';

  get nodes() {
    return this.ports.map((p) => `127.0.0.1:${p}`);
  }

  static async start(masters = 3, replicas = 0): Promise<RedisCluster> {
    const cluster = new RedisCluster();
    try {
      await cluster.#start(masters, replicas);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  async #start(masters: number, replicas: number) {
    this.#dir = mkdtempSync(path.join(tmpdir(), 'gh-redis-cluster-'));
    for (let i = 0; i < masters * (1 + replicas); i++) {
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
    await run('redis-cli', ['--cluster', 'create', ...this.nodes, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    for (let i = 0; i < 200; i++) {
      const states = await Promise.all(this.ports.map((p) => this.cli(p, 'CLUSTER', 'INFO').catch(() => '')));
      if (states.every((s) => s.includes('cluster_state:ok'))) break;
      if (i === 199) throw new Error('the Redis Cluster did not reach cluster_state:ok');
      await sleep(100);
    }
    // A replica that has not finished its first sync is never promoted: wait for every one.
    for (let i = 0; replicas > 0; i++) {
      const links = await Promise.all(this.ports.map((p) => this.cli(p, 'INFO', 'replication').catch(() => '')));
      const replicaLinks = links.filter((info) => info.includes('role:slave'));
      if (replicaLinks.length === masters * replicas && replicaLinks.every((info) => info.includes('master_link_status:up'))) return;
      if (i === 300) throw new Error('the Redis Cluster\'s replicas did not finish their first sync');
      await sleep(100);
    }
  }

  /** One command on one node, as redis-cli prints it. */
  async cli(port: number, ...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 });
    return stdout.trim();
  }

  /** The port of the master serving `key`'s slot, as the node on `askPort` sees it. */
  async masterOf(key: string, askPort = this.ports[0]): Promise<number> {
    const slot = Number(await this.cli(askPort, 'CLUSTER', 'KEYSLOT', key));
    const shards = await this.cli(askPort, '--json', 'CLUSTER', 'SLOTS');
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

  /** Kills the node on `port` (SIGKILL): a master lost, which its replica replaces if it has one. */
  async kill(port: number) {
    const child = this.#children[this.ports.indexOf(port)];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the node on `port` (SIGSTOP): it accepts connections and answers nothing, as a hung server. */
  freeze(port: number) {
    this.#children[this.ports.indexOf(port)]?.kill('SIGSTOP');
  }

  resume(port: number) {
    this.#children[this.ports.indexOf(port)]?.kill('SIGCONT');
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
