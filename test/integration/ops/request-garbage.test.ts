import { spawn } from 'node:child_process';
import http from 'node:http';
import Provider from 'oidc-provider';
import { asyncContextFrames } from '../../support/gc.js';

// A request that has been answered must die young: collected by the next minor GC, never promoted
// to the old generation, where only a major GC (a stall of tens of milliseconds under load) frees
// it. oidc-provider defined `ctx.oidc` on every request as a getter closing over the request; V8
// keeps accessor pairs in the old generation, so every answered request stayed reachable for minor
// GCs and was promoted whole (patches/oidc-provider+9.13.3.patch, docs/BENCHMARKS.md).
/**
 * What the old generation may grow by: the one or two requests in flight when a minor GC ran, and
 * whatever else the process allocated meanwhile. Measured: 0.3-1.1 MB; before the patch, 13.5 MB.
 */
const MAX_PROMOTED = 4_000_000;

interface Measure { grown: number; major: number; kept?: number }
/**
 * The measures, taken in a new process (test/support/request-garbage-probe.ts says why): the
 * answered requests of a provider route and of an admin route, and the control.
 */
let measured: Promise<{ requests: number; provider: Measure; admin: Measure; token?: Measure; control: Measure }>;
beforeAll(() => {
  measured = new Promise((resolve, reject) => {
    const probe = spawn(process.execPath, ['--import', 'tsx', 'test/support/request-garbage-probe.ts'], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let out = '';
    let err = '';
    probe.stdout.on('data', (c: Buffer) => (out += c));
    probe.stderr.on('data', (c: Buffer) => (err += c));
    probe.on('error', reject);
    probe.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line));
      else reject(new Error(`the probe exited ${code}: ${err.slice(-2000)}`));
    });
  });
  measured.catch(() => {}); // reported by the tests that await it
});

describe('an answered request', () => {
  it("carries oidc-provider's context as a plain property, not a getter (the patch is applied)", async () => {
    // On a provider of its own: a tenant's provider composed its middleware when first used.
    const provider = new Provider('http://127.0.0.1:9/garbage', { clients: [], cookies: { keys: ['k'.repeat(32)] } });
    let descriptor: PropertyDescriptor | undefined;
    provider.use(async (ctx, next) => {
      await next();
      descriptor ??= Object.getOwnPropertyDescriptor(ctx, 'oidc');
    });
    const server = http.createServer(provider.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      expect((await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).status).toBe(200);
    } finally {
      server.closeAllConnections();
      server.close();
    }
    expect(descriptor).toMatchObject({ writable: true });
    expect(descriptor?.get).toBeUndefined();
    expect(descriptor?.value?.constructor?.name).toBe('OIDCContext');
  });

  it('on a provider route (discovery) is not promoted to the old generation', async () => {
    const { provider } = await measured;
    expect(provider.major).toBe(0);
    expect(provider.grown).toBeLessThan(MAX_PROMOTED);
  }, 120_000);

  // Passed before the patch too: a guard for Gatehouse's own middleware (Koa, no oidc-provider).
  it("on one of Gatehouse's own routes (the admin API) is not promoted either", async () => {
    const { admin } = await measured;
    expect(admin.major).toBe(0);
    expect(admin.grown).toBeLessThan(MAX_PROMOTED);
  }, 120_000);

  // The token endpoint signs a JWT on the thread pool. On Node 24 the signing job, started inside
  // the request, kept the request alive through minor GCs (provider/signing-key.ts now starts it
  // outside). On Node 20 the request is still promoted there, in whatever context the job starts
  // and even with the job's callback cleared: only a signature made on the main thread avoids it
  // (docs/BENCHMARKS.md, twenty-fifth session). So the probe measures this case, and the test
  // asserts it, only where async context frames carry AsyncLocalStorage: Node 24 on, unless
  // turned off.
  (asyncContextFrames() ? it : it.skip)('on the token endpoint, signing a JWT access token, is not promoted either', async () => {
    const { token } = await measured;
    if (!token) throw new Error('the probe did not measure the token endpoint (it saw no async context frames)');
    expect(token.major).toBe(0);
    expect(token.grown).toBeLessThan(MAX_PROMOTED);
  }, 120_000);

  it('is seen by the measure when something does keep it (the control, last: its ballast all survives)', async () => {
    const { requests, control } = await measured;
    expect(control.major).toBe(0);
    expect(control.grown).toBeGreaterThan(3 * MAX_PROMOTED);
    expect(requests).toBeGreaterThan(0);
    expect(control.kept).toBe(requests);
  }, 120_000);
});
