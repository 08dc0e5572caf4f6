import { Agent, request } from 'node:http';
import { CookieJar } from '../test/support/browser.js';

/**
 * The load generator's browser for the login phase: a cookie jar and manual redirects, like
 * test/support/browser.ts, but on node:http with keep-alive instead of fetch. It shares the
 * process (and the 2 cores) with the server it measures, and undici's fetch cost it about as
 * much main-thread time per request as some of the server's own work; the requests it sends are
 * the same (same method, URL, cookies and form body, one connection reused per worker).
 */
export interface BenchResponse {
  status: number;
  location?: string;
  text(): string;
}

/**
 * The load generator's keep-alive agent. A side of an interleaved comparison waits several
 * seconds while the other sides run, longer than Node's 5 s server keep-alive: the server then
 * closes the idle connections, and one reused at that instant fails with ECONNRESET (the bench
 * saw it once in a run). Idle sockets are dropped here first, after 4 s; a socket in use is
 * never timed out by the agent.
 */
export const benchAgent = (maxSockets = 64) => new Agent({ keepAlive: true, maxSockets, timeout: 4_000 });

const agent = benchAgent();

export class HttpBrowser {
  #jar = new CookieJar();
  requests = 0;

  get(url: string) {
    return this.#send('GET', url);
  }

  post(url: string, form: Record<string, string>, authorization?: string) {
    return this.#send('POST', url, new URLSearchParams(form).toString(), authorization);
  }

  /** Follows redirects until one leaves `origin` (the relying party's callback) or a page answers. */
  async follow(url: string, origin: string): Promise<{ res: BenchResponse; url: string }> {
    let current = url;
    for (let i = 0; i < 10; i++) {
      if (!current.startsWith(origin)) return { res: { status: 302, text: () => '' }, url: current };
      const res = await this.get(current);
      if (res.status >= 300 && res.status < 400 && res.location) {
        current = new URL(res.location, current).toString();
        continue;
      }
      return { res, url: current };
    }
    throw new Error('too many redirects');
  }

  #send(method: string, url: string, body?: string, authorization?: string): Promise<BenchResponse> {
    this.requests++;
    const target = new URL(url);
    if (target.hostname !== '127.0.0.1') throw new Error(`refusing to benchmark a non-loopback URL: ${url}`);
    const headers: Record<string, string> = {};
    const cookie = this.#jar.header();
    if (cookie) headers.cookie = cookie;
    if (authorization) headers.authorization = authorization;
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) });
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: Number(target.port), path: target.pathname + target.search, method, headers, agent }, (res) => {
        this.#jar.storeLines(res.headers['set-cookie'] ?? []);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, location: res.headers.location, text: () => text });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}
