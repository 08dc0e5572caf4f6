import { createServer } from 'node:net';
import { startGatehouse } from '../../../src/app.js';
import { freePort } from '../../support/outages.js';
import { freshDatabase, testConfig } from '../../support/gatehouse.js';

// A start that fails once the node listens (here the bootstrap admin's password breaks the
// policy) leaves nothing running: the port is free again, the storage and the hashing threads
// are closed, so src/main.ts's exit is a clean exit 1 (a hashing thread still loading bcrypt when
// the process exits aborts it).
let db: Awaited<ReturnType<typeof freshDatabase>>;
beforeAll(async () => { db = await freshDatabase(); });
afterAll(async () => { await db.drop(); });

const listenable = (port: number) => new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(port, () => probe.close(() => resolve(true)));
});

it('a start that fails after listening frees its port and closes what it opened', async () => {
  const port = await freePort();
  const config = testConfig(db, { port, logLevel: 'warn', bootstrap: { email: 'admin@example.com', password: 'password' } });
  await expect(startGatehouse(config, { kvPrefix: 'ghtest:start-failure:' })).rejects.toThrow(/password/i);
  expect(await listenable(port)).toBe(true);
  // The same database is usable by the next start: nothing was left half-written or locked.
  config.bootstrap = { email: 'admin@example.com', password: 'a-long-and-uncommon-passphrase' };
  const gh = await startGatehouse(config, { kvPrefix: 'ghtest:start-failure:' });
  await gh.close();
});
