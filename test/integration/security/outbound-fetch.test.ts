import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCidr } from '../../../src/config/cidr.js';
import { OutboundRefusedError, outboundFetch } from '../../../src/security/outbound-fetch.js';

let server: Server;
let port: number;
const arrived: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    arrived.push(req.url!);
    if (req.url === '/echo') {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => res.writeHead(201, { 'content-type': 'application/json', 'x-seen': 'yes' }).end(JSON.stringify({ method: req.method, type: req.headers['content-type'], body })));
    } else if (req.url === '/slow') setTimeout(() => res.end('late'), 3000).unref();
    else if (req.url === '/to-v6-loopback') res.writeHead(302, { location: `http://[::1]:${port}/there` }).end();
    else if (req.url === '/to-other-loopback') res.writeHead(302, { location: `http://127.0.0.2:${port}/there` }).end();
    else res.end('hello');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  arrived.length = 0;
});

const allowing = (...blocks: string[]) => outboundFetch(blocks.map((b) => parseCidr(b)!));

describe('outbound fetch', () => {
  it('refuses a loopback address when nothing is allowed, before any request is sent', async () => {
    const err = await allowing()(`http://127.0.0.1:${port}/`).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err.cause).toBeInstanceOf(OutboundRefusedError);
    expect(err.cause.message).toMatch(/127\.0\.0\.1 is a special-use address outside OUTBOUND_ALLOW/);
    expect(arrived).toEqual([]);
  });

  it('refuses a host name that resolves to a special-use address', async () => {
    const err = await allowing()(`http://localhost:${port}/`).catch((e) => e);
    expect(err.cause).toBeInstanceOf(OutboundRefusedError);
    expect(arrived).toEqual([]);
  });

  it('reaches an address inside an allowed block, by address and by name', async () => {
    const fetch = allowing('127.0.0.1/32');
    expect(await (await fetch(`http://127.0.0.1:${port}/a`)).text()).toBe('hello');
    expect(await (await fetch(`http://localhost:${port}/b`)).text()).toBe('hello');
    expect(arrived).toEqual(['/a', '/b']);
  });

  it('sends method, headers and body as given, and answers as fetch does', async () => {
    const res = await allowing('127.0.0.0/8')(`http://127.0.0.1:${port}/echo`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: 'x.y.z' }), redirect: 'manual',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-seen')).toBe('yes');
    expect(await res.json()).toEqual({ method: 'POST', type: 'application/x-www-form-urlencoded', body: 'logout_token=x.y.z' });
  });

  it('gives up when the caller\'s signal says so', async () => {
    const started = Date.now();
    await expect(allowing('127.0.0.1')(`http://127.0.0.1:${port}/slow`, { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ name: expect.stringMatching(/AbortError|TimeoutError/) });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('still refuses the special-use addresses outside the allowed blocks, also behind a redirect', async () => {
    const fetch = allowing('127.0.0.1/32');
    await expect(fetch(`http://127.0.0.2:${port}/`)).rejects.toMatchObject({ cause: expect.any(OutboundRefusedError) });
    await expect(fetch(`http://[::1]:${port}/`)).rejects.toMatchObject({ cause: expect.any(OutboundRefusedError) });
    await expect(fetch(`http://127.0.0.1:${port}/to-v6-loopback`)).rejects.toMatchObject({ cause: expect.any(OutboundRefusedError) });
    await expect(fetch(`http://127.0.0.1:${port}/to-other-loopback`)).rejects.toMatchObject({ cause: expect.any(OutboundRefusedError) });
    expect(arrived).toEqual(['/to-v6-loopback', '/to-other-loopback']);
  });
});
