import { jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import bcrypt from 'bcrypt';
import { getPriority } from 'node:os';
import { Piscina } from 'piscina';
import { HASHING_NICE, HashPool } from '../../../src/security/hash-pool.js';
import { Passwords } from '../../../src/security/passwords.js';

/** Nice value of every thread of this process by its thread id, read from /proc (Linux only). */
function threadNiceValues(): Map<string, number> {
  const values = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      values.set(tid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended between the listing and the read (an earlier pool's, closing).
    }
  }
  return values;
}

describe('HashPool', () => {
  let pool: HashPool;
  beforeEach(() => { pool = new HashPool(2); });
  afterEach(() => pool.close());

  test('hashes that bcrypt itself verifies, and verifies what bcrypt hashed', async () => {
    const hash = await pool.hash('correct horse', 4);
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(await bcrypt.compare('correct horse', hash)).toBe(true);
    const theirs = await bcrypt.hash('battery staple', 4);
    expect(await pool.compare('battery staple', theirs)).toBe(true);
    expect(await pool.compare('battery stapler', theirs)).toBe(false);
  });

  test('a malformed stored hash compares false, as bcrypt.compare does', async () => {
    for (const hash of ['', 'not-a-hash', '$2b$04$short']) expect(await pool.compare('x', hash)).toBe(false);
  });

  test('input that cannot be sent is refused without shifting later answers', async () => {
    const hash = await pool.hash('right', 4);
    await expect(pool.compare(Symbol('x') as unknown as string, hash)).rejects.toThrow(TypeError);
    await expect(pool.compare('right', { toString: () => hash } as unknown as string)).rejects.toThrow(TypeError);
    expect(await pool.compare('wrong', hash)).toBe(false);
    expect(await pool.compare('right', hash)).toBe(true);
  });

  test('an impossible cost is an error, and the pool goes on working after it', async () => {
    await expect(pool.hash('x', 40)).rejects.toThrow(/salt/i);
    expect(await pool.compare('x', await pool.hash('x', 4))).toBe(true);
  });

  test('more jobs than workers queue and all finish with their own answers', async () => {
    const passwords = Array.from({ length: 9 }, (_, i) => `password-${i}`);
    const hashes = await Promise.all(passwords.map((p) => pool.hash(p, 4)));
    const checks = await Promise.all(passwords.map((p, i) => Promise.all([pool.compare(p, hashes[i]), pool.compare(p, hashes[(i + 1) % 9])])));
    expect(checks).toEqual(passwords.map(() => [true, false]));
  });

  test('many concurrent hashes and verifies of different passwords each get their own answer', async () => {
    const passwords = Array.from({ length: 24 }, (_, i) => `password-${i}-${'x'.repeat(i)}`);
    // Costs differ, so jobs finish out of the order they were sent in.
    const hashes = await Promise.all(passwords.map((p, i) => pool.hash(p, 4 + (i % 3))));
    hashes.forEach((hash, i) => expect(bcrypt.compareSync(passwords[i], hash)).toBe(true));
    expect(new Set(hashes).size).toBe(passwords.length);
    // Right and wrong passwords interleaved with jobs that fail, all in flight at once.
    const jobs = passwords.flatMap((p, i) => [
      pool.compare(p, hashes[i]).then((ok) => ['right', i, ok]),
      pool.compare(p, hashes[(i + 1) % passwords.length]).then((ok) => ['wrong', i, ok]),
      pool.hash(p, 99).then(() => ['bad cost', i, 'hashed'], () => ['bad cost', i, 'refused']),
    ]);
    const answers = await Promise.all(jobs);
    expect(answers).toEqual(passwords.flatMap((_, i) => [['right', i, true], ['wrong', i, false], ['bad cost', i, 'refused']]));
  });

  test('a hashing thread that dies fails only its own job, and the pool goes on', async () => {
    const hash = await pool.hash('survivor', 4);
    expect(pool.threads.length).toBe(2);
    // A slow hash on each thread, then one thread is killed under them.
    const slow = [pool.hash('a', 12), pool.hash('b', 12)];
    const outcomes = Promise.allSettled(slow);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const victim = pool.threads[0];
    await victim.terminate();
    const settled = await outcomes;
    expect(settled.filter((s) => s.status === 'rejected').length).toBeGreaterThanOrEqual(1);
    for (const s of settled) if (s.status === 'fulfilled') expect(s.value).toMatch(/^\$2b\$12\$/);
    // New jobs are answered, and answered right, by the threads that are left or replaced.
    const checks = await Promise.all([pool.compare('survivor', hash), pool.compare('intruder', hash), pool.compare('survivor', hash)]);
    expect(checks).toEqual([true, false, true]);
    expect(pool.threads).not.toContain(victim);
  });

  test('hashing threads run HASHING_NICE steps below the event loop', async () => {
    if (process.platform !== 'linux') return;
    const main = getPriority(0);
    const expected = Math.min(19, main + HASHING_NICE);
    // Threads are told apart by their ids, not counted: an earlier pool's thread may still be
    // ending, and this test's pool is made after the first look, so none of its threads is in it.
    const before = threadNiceValues();
    const fresh = new HashPool(2);
    try {
      await Promise.all([fresh.hash('x', 4), fresh.hash('y', 4)]);
      // Both jobs may have gone to the first thread up; the second lowers itself as it starts.
      const niced = () => [...threadNiceValues()].filter(([tid, nice]) => !before.has(tid) && nice === expected);
      for (const deadline = Date.now() + 5000; niced().length < 2 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const after = threadNiceValues();
      const started = [...after].filter(([tid]) => !before.has(tid));
      // Both hashing threads of the pool, none of the others.
      expect(started.filter(([, nice]) => nice === expected)).toHaveLength(2);
      for (const [tid, nice] of after) if (before.has(tid)) expect([tid, nice]).toEqual([tid, before.get(tid)]);
      expect(getPriority(0)).toBe(main); // the event loop keeps its priority
    } finally {
      await fresh.close();
    }
  });

  test('many jobs add nothing to the pool per job (no listener piles up)', async () => {
    const on = jest.spyOn(Piscina.prototype, 'on');
    try {
      const fresh = new HashPool(2);
      for (let i = 0; i < 30; i++) await fresh.compare('x', await fresh.hash('x', 4));
      await fresh.close();
      expect(on.mock.calls.filter(([event]) => event === 'message')).toHaveLength(1);
    } finally {
      on.mockRestore();
    }
  });

  test('after close, jobs are refused', async () => {
    await pool.hash('x', 4);
    await pool.close();
    await expect(pool.compare('x', 'y')).rejects.toThrow(/closed/);
  });
});

describe('HashPool.close while threads start', () => {
  // A thread terminated while it loads bcrypt's native module aborts the whole process
  // ("terminate called after throwing an instance of 'Napi::Error'", SIGABRT): a server stopped
  // right after it started, or restarted, took its process down with it.
  test('a thread is terminated only after it has loaded bcrypt', async () => {
    // Both threads start with the first job; its answer comes from the first one ready, often
    // before the other has loaded bcrypt, and close() follows at once.
    const terminations: { loaded: boolean }[] = [];
    for (let i = 0; i < 20; i++) {
      const fresh = new HashPool(2);
      const job = fresh.hash('x', 4);
      for (const thread of fresh.threads) {
        let loaded = false;
        thread.on('message', (m: { hashThreadLoaded?: number }) => { if (m?.hashThreadLoaded === thread.threadId) loaded = true; });
        const terminate = thread.terminate.bind(thread);
        thread.terminate = () => { terminations.push({ loaded }); return terminate(); };
      }
      await job;
      const closing = fresh.close();
      expect(fresh.close()).toBe(closing); // a second caller waits for the same close
      await closing;
    }
    expect(terminations).toHaveLength(40);
    expect(terminations.filter((t) => !t.loaded)).toEqual([]);
  });

  test('never aborts the process', () => {
    // Pools closed at moments spread over their threads' start, in a process of their own so that
    // an abort fails this test instead of killing the test runner; as many as fit in 40 s
    // (hashing threads run niced: on a busy machine they load slowly).
    const script = `
      import { HashPool } from ${JSON.stringify(new URL('../../../src/security/hash-pool.ts', import.meta.url).href)};
      let closed = 0;
      for (const until = Date.now() + 40_000; closed < 150 && Date.now() < until; closed++) {
        const pool = new HashPool(2);
        const job = pool.hash('x', 4).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, (closed * 7) % 45));
        await pool.close();
        await job;
      }
      console.log('closed ' + closed + ' pools');`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect({ status: run.status, signal: run.signal }).toEqual({ status: 0, signal: null });
    expect(run.stderr).not.toMatch(/terminate called|Napi::Error|Aborted/);
    expect(Number(/closed (\d+) pools/.exec(run.stdout)?.[1])).toBeGreaterThanOrEqual(20);
  }, 150_000);
});

describe('Passwords', () => {
  test('an unknown user costs a compare against the dummy hash and never matches', async () => {
    const passwords = new Passwords(4);
    try {
      expect(await passwords.verify('anything', undefined)).toBe(false);
      expect(await passwords.verify('anything', null)).toBe(false);
      expect(await passwords.verify('secret', await passwords.hash('secret'))).toBe(true);
    } finally {
      await passwords.close();
    }
  });
});
