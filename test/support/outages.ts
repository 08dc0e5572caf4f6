import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A loopback port nobody listens on (at the time of asking). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function answers(port: number) {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.write('PING\r\n');
      socket.once('data', (d) => {
        socket.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
    });
    socket.once('error', () => resolve(false));
  });
}

/** A redis-server of this test alone (no persistence), to stop and start again on the same port. */
export class PrivateRedis {
  #child?: ChildProcess;
  constructor(readonly port: number) {}

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /**
   * Where it would write its data: a replica writes what its master sends it even with `--save ''`,
   * and without a folder of its own that is the working directory (the repository).
   */
  get #dumpFile() {
    return `gatehouse-test-redis-${this.port}.rdb`;
  }

  async start() {
    // --save '' stops it saving, not loading: a copy left by an earlier run on this port is not read.
    this.#removeDump();
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--databases', '16',
      '--dir', tmpdir(), '--dbfilename', this.#dumpFile,
    ], { stdio: 'ignore' });
    this.#child = child;
    for (let i = 0; i < 100 && !(await answers(this.port)); i++) await sleep(50);
  }

  /** SIGSTOP: connections are accepted and nothing answers, as with a hung server. */
  freeze() {
    this.#child?.kill('SIGSTOP');
  }

  thaw() {
    this.#child?.kill('SIGCONT');
  }

  async stop() {
    const child = this.#child;
    this.#child = undefined;
    if (child && child.exitCode === null) {
      child.kill('SIGCONT');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    this.#removeDump();
  }

  #removeDump() {
    rmSync(join(tmpdir(), this.#dumpFile), { force: true });
  }
}

/**
 * A TCP proxy to `target` that the test can cut (refuse and drop every connection) and restore,
 * on the same port: to the client it is the real outage of the server behind.
 */
export class CuttableProxy {
  #server?: net.Server;
  #sockets = new Set<net.Socket>();
  /** Connections forwarded: client and upstream. */
  #pairs = new Set<[net.Socket, net.Socket]>();
  /** Connections accepted while stalled, forwarded once resumed. */
  #waiting: net.Socket[] = [];
  #stalled = false;
  port = 0;
  constructor(private target: { host: string; port: number }) {}

  /** A proxy opened in front of the PostgreSQL of `url` (postgres://…), and `url` through it. */
  static async inFrontOf(url: string): Promise<{ proxy: CuttableProxy; url: string }> {
    const real = new URL(url);
    const proxy = new CuttableProxy({ host: real.hostname, port: Number(real.port || 5432) });
    await proxy.open();
    const through = new URL(url);
    through.hostname = '127.0.0.1';
    through.port = String(proxy.port);
    return { proxy, url: through.toString() };
  }

  /** New connections go to `target`; those open stay where they are (as after a DNS failover). */
  retarget(target: { host: string; port: number }) {
    this.target = target;
  }

  #track(socket: net.Socket) {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
  }

  #forward(client: net.Socket) {
    const upstream = net.connect(this.target.port, this.target.host);
    this.#track(upstream);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.#pairs.add(pair);
    client.pipe(upstream).pipe(client);
    client.on('close', () => {
      this.#pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
  }

  async open() {
    const server = net.createServer((client) => {
      this.#track(client);
      if (!this.#stalled) return this.#forward(client);
      client.pause();
      this.#waiting.push(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  /**
   * Nothing passes any more, in either direction, and new connections are accepted but not
   * answered: a hung server, or a network that drops packets without a word. What was sent
   * meanwhile is held, and delivered on resume(), as by a server that was only slow.
   */
  stall() {
    if (this.#stalled) return;
    this.#stalled = true;
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  resume() {
    if (!this.#stalled) return; // piped twice, every byte would pass twice
    this.#stalled = false;
    for (const [client, upstream] of this.#pairs) client.pipe(upstream).pipe(client);
    for (const client of this.#waiting.splice(0)) if (!client.destroyed) this.#forward(client);
  }

  async cut() {
    const server = this.#server;
    this.#server = undefined;
    this.#stalled = false;
    this.#waiting = [];
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
