import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { log } from '../log/logger.js';

/**
 * bcrypt on worker threads of their own (piscina), one per core (at most 4), at a lower
 * scheduling priority than the event loop.
 *
 * `bcrypt.compare` runs on libuv's thread pool (4 threads by default), at the same priority as
 * the event loop. Under a burst of logins those threads keep every core busy and the scheduler
 * gives the event loop an equal share among five or more threads: on 2 cores about 40% of one,
 * so every other request (token, JWKS, admin) waits behind password hashing. Here piscina's
 * `niceIncrement` lowers each hashing thread's priority by HASHING_NICE steps (nice is per thread
 * on Linux), so the event loop runs whenever it has work and hashing takes the CPU left over;
 * with nothing else to do, hashing still gets every core. Where lowering the priority is refused
 * (or @napi-rs/nice is missing), the threads run at the process's priority.
 *
 * Each job's answer comes back with that job's own id (piscina's task ids), so an answer cannot
 * land on another job; a thread that dies fails only the job it was running, and piscina starts
 * a new one.
 */

/** How much lower than the process the hashing threads run (nice steps, capped at 19). */
export const HASHING_NICE = 10;
/** libuv's default pool size, which bcrypt used before: more hashing threads buy no login latency. */
const MAX_WORKERS = 4;
/**
 * Jobs handed to one thread ahead of its answers. With two, a thread finds its next job waiting
 * when it finishes one, instead of idling until the (busy) event loop hands it another.
 */
const JOBS_PER_WORKER = 2;
/** How long close() waits for running hashes before the threads are terminated. */
const STOP_GRACE_MS = 5_000;
/**
 * How long close() waits for a thread still loading bcrypt's native module: a thread terminated
 * while loading it aborts the whole process (node-addon-api throws a C++ exception that nothing
 * catches). Loading takes tens of milliseconds; the bound is for a thread that never finishes.
 */
const LOAD_GRACE_MS = 10_000; // with STOP_GRACE_MS, well inside the 24 s a stopping server has (main.ts)

const WORKER_FILE = new URL('./hash-worker.cjs', import.meta.url).href;

class HashPoolError extends Error {}

type Job = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };

export class HashPool {
  readonly #size: number;
  /** Started on the first job: a CLI command that hashes nothing starts no thread. */
  #piscina: Piscina | undefined;
  /** threadIds of the threads that have loaded bcrypt (hash-worker.cjs says so). */
  readonly #loaded = new Set<number>();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(size = Math.min(availableParallelism(), cgroupCpuLimit(), MAX_WORKERS)) {
    this.#size = Math.max(1, Math.floor(size));
  }

  hash(password: string, cost: number): Promise<string> {
    return this.#run({ op: 'hash', password, cost }) as Promise<string>;
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.#run({ op: 'compare', password, hash }) as Promise<boolean>;
  }

  /** The hashing threads running now (diagnostics and tests). */
  get threads(): readonly Worker[] {
    return this.#piscina?.threads ?? [];
  }

  /**
   * Jobs still queued are refused; running hashes get STOP_GRACE_MS to finish. Threads are only
   * terminated once they have loaded bcrypt (see LOAD_GRACE_MS).
   */
  close(): Promise<void> {
    // Every caller waits for the same close: a second one must not return while threads still load.
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close() {
    this.#closed = true;
    const piscina = this.#piscina;
    this.#piscina = undefined;
    if (!piscina) return;
    const deadline = Date.now() + LOAD_GRACE_MS;
    while (piscina.threads.some((t) => !this.#loaded.has(t.threadId)) && Date.now() < deadline) {
      await sleep(5);
    }
    await piscina.close();
  }

  #run(job: Job): Promise<unknown> {
    if (this.#closed) return Promise.reject(new HashPoolError('hash pool closed'));
    if (typeof job.password !== 'string' || (job.op === 'compare' && typeof job.hash !== 'string')) {
      return Promise.reject(new TypeError('password and hash must be strings'));
    }
    if (job.op === 'hash' && !Number.isInteger(job.cost)) return Promise.reject(new TypeError('cost must be an integer'));
    return this.#pool().run(job).catch((err: unknown) => {
      throw new HashPoolError(err instanceof Error ? err.message : String(err));
    });
  }

  #pool() {
    if (this.#piscina) return this.#piscina;
    const piscina = new Piscina({
      filename: WORKER_FILE,
      // Every thread from the start, so two jobs go to two threads rather than queue on one.
      minThreads: this.#size,
      maxThreads: this.#size,
      concurrentTasksPerWorker: JOBS_PER_WORKER,
      niceIncrement: HASHING_NICE,
      // Hashing needs none of the loaders or flags the main thread was started with.
      execArgv: [],
      closeTimeout: STOP_GRACE_MS,
    });
    piscina.on('message', (message: unknown) => {
      const id = (message as { hashThreadLoaded?: unknown } | null)?.hashThreadLoaded;
      if (typeof id === 'number') this.#loaded.add(id);
    });
    // piscina reports here what belongs to no job (a close that outlasted STOP_GRACE_MS and
    // terminated running hashes, a thread that failed to start); unheard, an 'error' event throws.
    piscina.on('error', (err: unknown) => {
      log().warn('hash_pool.error', { error: { name: (err as Error)?.name, message: (err as Error)?.message ?? String(err) } });
    });
    this.#piscina = piscina;
    return piscina;
  }
}

/** CPUs a cgroup v2 quota allows (`cpu.max`), which Node 20 does not count; Infinity when none. */
function cgroupCpuLimit(): number {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    const cpus = Number(quota) / Number(period);
    return quota !== 'max' && cpus > 0 ? Math.ceil(cpus) : Infinity;
  } catch {
    return Infinity;
  }
}
