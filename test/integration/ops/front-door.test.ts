import { readFileSync } from 'node:fs';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// What a browser, curl and an API client meet at the top of the server and where nothing is.
let gh: TestGatehouse;
let slug: string;
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

beforeAll(async () => {
  gh = await startTestGatehouse();
  slug = (await gh.tenant()).slug;
});
afterAll(() => gh.stop());

const get = (path: string, accept?: string) => fetch(`${gh.url}${path}`, { headers: accept ? { accept } : {} });

describe('GET /', () => {
  it('answers a page naming the instance, its version, the docs and the discovery pattern, listing no tenant', async () => {
    const res = await get('/', BROWSER);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await res.text();
    expect(html).toContain(`<code>${gh.url}</code>`);
    expect(html).toContain(`<dd>${version}</dd>`);
    expect(html).toContain(`${gh.url}/t/{slug}/.well-known/openid-configuration`);
    expect(html).toContain('docs/README.md');
    expect(html).not.toContain(slug);
  });

  it('answers JSON for Accept: application/json', async () => {
    const res = await get('/', 'application/json');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      name: 'Gatehouse', public_url: gh.url, version, docs: expect.stringContaining('docs/README.md'),
      discovery_pattern: `${gh.url}/t/{slug}/.well-known/openid-configuration`, admin_api: `${gh.url}/admin/v1`, openapi: `${gh.url}/admin/v1/openapi.json`,
    });
  });
});

describe('one 404 per surface', () => {
  it('a browser on a page path gets an HTML page', async () => {
    for (const path of ['/nothing-here', '/t/no-such-tenant', `/t/${slug}/no-such-page`, `/t/${slug}/account/no-such-page`]) {
      const res = await get(path, BROWSER);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<h1>Page not found</h1>');
      expect(html).toContain('<a href="/">');
    }
    expect(await (await get('/t/no-such-tenant', BROWSER)).text()).toContain('There is no tenant &quot;no-such-tenant&quot; on this server.');
  });

  it('a client that does not ask for HTML gets OAuth-style JSON', async () => {
    for (const [path, accept] of [['/nothing-here', undefined], ['/t/no-such-tenant', 'application/json'], [`/t/${slug}/no-such-page`, '*/*']] as const) {
      const res = await get(path, accept);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ error: 'not_found', error_description: expect.any(String) });
    }
  });

  it('protocol paths under an issuer answer OAuth-style JSON even to a browser', async () => {
    for (const path of ['/t/no-such-tenant/.well-known/openid-configuration', '/t/no-such-tenant/token', `/t/${slug}/token/nothing`, `/t/${slug}/jwks/nothing`, `/t/${slug}/.well-known/nothing`]) {
      const res = await get(path, BROWSER);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ error: 'not_found', error_description: expect.any(String) });
    }
    // Served paths are untouched.
    expect((await get(`/t/${slug}/.well-known/openid-configuration`, BROWSER)).status).toBe(200);
  });

  it('the admin API answers problem+json, /admin/v1 itself included, whatever the Accept', async () => {
    for (const path of ['/admin/v1', '/admin/v1/', '/admin/v1/nothing', '/admin', '/admin/nothing']) {
      for (const accept of [BROWSER, undefined]) {
        const res = await get(path, accept);
        expect([path, res.status]).toEqual([path, 404]);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(await res.json()).toMatchObject({ status: 404, title: 'Not Found', code: 'not_found' });
      }
    }
  });
});
