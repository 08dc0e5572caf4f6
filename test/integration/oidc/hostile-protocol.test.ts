import { csrfOf } from '../../support/browser.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
afterAll(() => gh.stop());
beforeAll(async () => {
  gh = await startTestGatehouse();
});

const form = 'application/x-www-form-urlencoded';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('hostile requests to the protocol endpoints', () => {
  it('answers NUL characters, garbage and sessionless form posts with 4xx (or the RFC\'s 200), never a 500', async () => {
    const tenant = await gh.tenant();
    const app = await gh.client(tenant);
    const base = `${gh.url}/t/${tenant.slug}`;
    const auth = basic(app.clientId, app.clientSecret!);
    const requests: [string, string, RequestInit?][] = [
      ['token, client_id with NUL', `${base}/token`, { method: 'POST', headers: { 'content-type': form }, body: 'grant_type=client_credentials&client_id=a%00b&client_secret=x' }],
      ['token, garbage grant', `${base}/token`, { method: 'POST', headers: { 'content-type': form, authorization: auth }, body: 'grant_type=%00&code=%00' }],
      ['token, refresh with NUL', `${base}/token`, { method: 'POST', headers: { 'content-type': form, authorization: auth }, body: 'grant_type=refresh_token&refresh_token=a%00b' }],
      ['token, JSON body', `${base}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: '{"grant_type":' }],
      ['authorize, client_id with NUL', `${base}/auth?client_id=a%00b&response_type=code&scope=openid&redirect_uri=http://x`],
      ['introspection, token with NUL', `${base}/token/introspection`, { method: 'POST', headers: { 'content-type': form, authorization: auth }, body: 'token=a%00b' }],
      ['revocation, token with NUL', `${base}/token/revocation`, { method: 'POST', headers: { 'content-type': form, authorization: auth }, body: 'token=a%00b' }],
      ['userinfo, garbage token', `${base}/me`, { headers: { authorization: 'Bearer a%00b' } }],
      ['interaction, NUL uid', `${base}/interaction/a%00b`],
      ['device, POST without a session', `${base}/device`, { method: 'POST', headers: { 'content-type': form }, body: 'user_code=ABCD-EFGH&xsrf=x' }],
      ['PAR, huge body', `${base}/request`, { method: 'POST', headers: { 'content-type': form, authorization: auth }, body: `scope=${'x'.repeat(300_000)}` }],
      ['unknown tenant with NUL', `${gh.url}/t/a%00b/.well-known/openid-configuration`],
    ];
    const answers = await Promise.all(requests.map(async ([label, url, init]) => `${label} → ${(await fetch(url, { redirect: 'manual', ...init })).status}`));
    expect(answers.filter((a) => / → 5\d\d$/.test(a))).toEqual([]);

    const rp = await RelyingParty.discover({ issuer: base, ...app });
    const start = await rp.startLogin();
    const login = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: 'a\u0000@example.com', password: 'x' });
    expect(login.status).toBeLessThan(500);
    expect(logLines.filter((l) => /"level":"error"/.test(l))).toEqual([]);
  });
});
