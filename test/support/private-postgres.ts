import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A PostgreSQL server of this test alone, on its own port and folder (trust auth on loopback),
 * never the machine's: a test may freeze it (SIGSTOP to every one of its processes, so it
 * accepts connections and answers nothing, as a hung server does) and thaw it.
 * Run as the `postgres` user when the tests run as root (postgres refuses root).
 * Started and stopped as a process group of its own (detached).
 */
export class PrivatePostgres {
  #child?: ChildProcess;
  #dir = '';
  constructor(readonly port: number) {}

  get url() {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  #bin(name: string) {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
    const found = versions.map((v) => path.join(root, v, 'bin', name)).find((f) => existsSync(f));
    if (!found) throw new Error(`PostgreSQL's ${name} is not installed`);
    return found;
  }

  #user() {
    if (process.getuid?.() !== 0) return {};
    const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    return { uid: id('-u'), gid: id('-g') };
  }

  async start() {
    const user = this.#user();
    this.#dir = mkdtempSync(path.join(tmpdir(), 'gh-private-pg-'));
    if (user.uid !== undefined) chownSync(this.#dir, user.uid, user.gid!);
    const data = path.join(this.#dir, 'data');
    const superuser = user.uid !== undefined ? 'postgres' : userInfo().username;
    const init = spawnSync(this.#bin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { ...user, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed (${superuser}): ${init.stderr}`);
    this.#child = spawn(this.#bin('postgres'), ['-D', data, '-p', String(this.port), '-h', '127.0.0.1', '-k', this.#dir, '-c', 'fsync=off'], { ...user, detached: true, stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (spawnSync(this.#bin('pg_isready'), ['-h', '127.0.0.1', '-p', String(this.port)]).status === 0) return;
      await sleep(100);
    }
    throw new Error('the private PostgreSQL did not start');
  }

  /** The postmaster and its children: each backend calls setsid(), so a process group does not reach them. */
  #processes() {
    const pid = this.#child!.pid!;
    const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    return [pid, ...children];
  }

  freeze() {
    for (const pid of this.#processes()) process.kill(pid, 'SIGSTOP');
  }

  thaw() {
    for (const pid of this.#processes().reverse()) process.kill(pid, 'SIGCONT');
  }

  async stop() {
    const child = this.#child;
    this.#child = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        this.#child = child;
        this.thaw();
        this.#child = undefined;
        child.kill('SIGQUIT'); // immediate shutdown: the postmaster ends its backends
      } catch {
        // already gone
      }
      await exited;
    }
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
  }
}
