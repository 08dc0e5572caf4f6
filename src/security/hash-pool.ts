import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * bcrypt on worker threads of their own, one per core (at most 4), at a lower scheduling priority
 * than the event loop.
 *
 * `bcrypt.compare` runs on libuv's thread pool (4 threads by default), at the same priority as
 * the event loop. Under a burst of logins those threads keep every core busy and the scheduler
 * gives the event loop an equal share among five or more threads: on 2 cores about 40% of one,
 * so every other request (token, JWKS, admin) waits behind password hashing. Here each worker
 * lowers its own thread's priority by HASHING_NICE steps below the thread that started it (nice
 * is per thread on Linux), so the event loop runs whenever it has work and hashing takes the CPU
 * left over; with nothing else to do, hashing still gets every core. Where lowering the priority
 * is refused, the workers run at the process's priority.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const os = require('node:os');
try { os.setPriority(0, Math.min(19, os.getPriority(0) + workerData.niceSteps)); } catch {}
const bcrypt = require(workerData.bcrypt);
parentPort.on('message', (job) => {
  if (job.op === 'stop') return parentPort.close(); // nothing left to wait for: the thread ends
  let answer;
  try {
    answer = { result: job.op === 'hash' ? bcrypt.hashSync(job.password, job.cost) : bcrypt.compareSync(job.password, job.hash) };
  } catch (e) {
    answer = { error: e instanceof Error ? e.message : String(e) };
  }
  parentPort.postMessage(answer);
});
`;

/** How much lower than the process the hashing threads run (nice steps, capped at 19). */
export const HASHING_NICE = 10;
/** libuv's default pool size, which bcrypt used before: more hashing threads buy no login latency. */
const MAX_WORKERS = 4;
/**
 * Jobs posted to one worker ahead of its answers. With two, a worker finds its next job waiting
 * when it finishes one, instead of idling until the (busy) event loop hands it another.
 */
const POSTED_PER_WORKER = 2;

/** How long close() waits for a worker to finish its hash and end before terminating it. */
const STOP_GRACE_MS = 5_000;

class HashPoolError extends Error {}

type Job = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };
type Pending = { job: Job; resolve: (value: unknown) => void; reject: (error: Error) => void };
/** A worker and the jobs posted to it, answered in order. */
type Slot = { worker: Worker; posted: Pending[] };

export class HashPool {
  readonly #size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #closed = false;

  constructor(size = Math.min(availableParallelism(), cgroupCpuLimit(), MAX_WORKERS)) {
    this.#size = Math.max(1, size);
  }

  hash(password: string, cost: number): Promise<string> {
    return this.#run({ op: 'hash', password, cost }) as Promise<string>;
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.#run({ op: 'compare', password, hash }) as Promise<boolean>;
  }

  /**
   * Workers are asked to stop and end on their own once their current hash is done; only one that
   * has not ended after STOP_GRACE_MS is terminated. (Terminating a worker that is still loading
   * bcrypt's native module can abort the whole process.)
   */
  async close() {
    this.#closed = true;
    const closed = new HashPoolError('hash pool closed');
    for (const pending of this.#queue.splice(0)) pending.reject(closed);
    const slots = this.#slots.splice(0);
    for (const slot of slots) for (const pending of slot.posted.splice(0)) pending.reject(closed);
    await Promise.all(slots.map(async ({ worker }) => {
      const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref();
      worker.postMessage({ op: 'stop' });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), STOP_GRACE_MS); });
      if ((await Promise.race([ended, late])) === 'late') await worker.terminate();
      clearTimeout(timer);
    }));
  }

  #run(job: Job): Promise<unknown> {
    if (this.#closed) return Promise.reject(new HashPoolError('hash pool closed'));
    if (typeof job.password !== 'string' || (job.op === 'compare' && typeof job.hash !== 'string')) {
      return Promise.reject(new TypeError('password and hash must be strings'));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      this.#dispatch();
    });
  }

  /** To the least loaded worker; a new one while a worker is busy and the pool is not full. */
  #dispatch() {
    while (this.#queue.length > 0) {
      let slot = this.#slots.reduce<Slot | undefined>((best, s) => (!best || s.posted.length < best.posted.length ? s : best), undefined);
      if ((!slot || slot.posted.length > 0) && this.#slots.length < this.#size) {
        try {
          slot = this.#spawn();
        } catch (err) {
          if (!slot) {
            for (const pending of this.#queue.splice(0)) pending.reject(new HashPoolError(`cannot start a hash worker: ${(err as Error).message}`));
            return;
          }
        }
      }
      if (!slot || slot.posted.length >= POSTED_PER_WORKER) return;
      const pending = this.#queue.shift()!;
      try {
        slot.worker.postMessage(pending.job);
      } catch (err) {
        pending.reject(err as Error);
        continue;
      }
      // Posted only once sent: the worker answers in order, and answers are matched by position.
      slot.posted.push(pending);
      if (slot.posted.length === 1) slot.worker.ref();
    }
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { bcrypt: createRequire(import.meta.url).resolve('bcrypt'), niceSteps: HASHING_NICE },
      // Hashing needs none of the loaders or flags the main thread was started with.
      execArgv: [],
    });
    const slot: Slot = { worker, posted: [] };
    this.#slots.push(slot);
    worker.on('message', (answer: { result?: unknown; error?: string }) => {
      const pending = slot.posted.shift();
      if (slot.posted.length === 0) worker.unref();
      if (pending) {
        if (answer.error !== undefined) pending.reject(new HashPoolError(answer.error));
        else pending.resolve(answer.result);
      }
      if (!this.#closed) this.#dispatch();
    });
    let gone = false;
    const lost = (error: Error) => {
      if (gone) return;
      gone = true;
      const at = this.#slots.indexOf(slot);
      if (at >= 0) this.#slots.splice(at, 1);
      // The job it was running fails; the ones still waiting behind it go to another worker.
      const [running, ...waiting] = slot.posted.splice(0);
      running?.reject(error);
      this.#queue.unshift(...waiting);
      void worker.terminate();
      if (!this.#closed) this.#dispatch();
    };
    worker.on('error', lost);
    worker.on('messageerror', () => lost(new HashPoolError('hash worker sent an unreadable answer')));
    worker.on('exit', (code) => lost(new HashPoolError(`hash worker exited with code ${code}`)));
    // Idle workers do not keep the process alive; a worker with jobs does (ref() in #dispatch).
    worker.unref();
    return slot;
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
