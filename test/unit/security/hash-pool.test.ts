import { readdirSync, readFileSync } from 'node:fs';
import bcrypt from 'bcrypt';
import { HashPool } from '../../../src/security/hash-pool.js';
import { Passwords } from '../../../src/security/passwords.js';

/** Nice value of every thread of this process, read from /proc (Linux only). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
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

  test('hashing threads run below the event loop priority', async () => {
    if (process.platform !== 'linux') return;
    const before = threadNiceValues();
    await pool.hash('x', 4);
    const after = threadNiceValues();
    expect(after.filter((n) => n === 10).length).toBe(before.filter((n) => n === 10).length + 1);
    expect(Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[16])).toBe(0); // the main thread keeps its priority
  });

  test('after close, jobs are refused', async () => {
    await pool.hash('x', 4);
    await pool.close();
    await expect(pool.compare('x', 'y')).rejects.toThrow(/closed/);
  });
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
