import { csrfOf } from './browser.js';

/**
 * A cookie jar that keeps Path apart as browsers do: two tenants of one Gatehouse each set an
 * `_interaction` cookie, on their own path, and a federated login holds both at once.
 */
export class PathCookieJar {
  #cookies = new Map<string, { name: string; value: string; path: string; host: string }>();

  store(res: Response, url: string) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => /^path=/i.test(a));
      const path = pathAttr ? pathAttr.slice(5) : new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
      const expired = attrs.some((a) => /^\s*expires=/i.test(a) && new Date(a.split('=')[1]).getTime() < Date.now()) || attrs.some((a) => /^\s*max-age=0/i.test(a));
      const host = new URL(url).host;
      const key = `${host} ${name} ${path}`;
      if (expired || value === '') this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path, host });
    }
  }

  header(url: string) {
    const { pathname: path, host } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => c.host === host)
      .filter((c) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

export interface Page {
  url: string;
  status: number;
  html: string;
  location?: string;
}

/** A browser over plain HTTP that follows redirects within one origin and keeps cookies by path. */
export class FederationBrowser {
  jar = new PathCookieJar();

  readonly origins: string[];

  /** `origins`: where redirects are followed (Gatehouse, an upstream provider); others end `go`. */
  constructor(...origins: string[]) {
    this.origins = origins;
  }

  async request(url: string, form?: Record<string, string>) {
    const res = await fetch(url, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { cookie: this.jar.header(url), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    this.jar.store(res, url);
    return res;
  }

  /** Follows redirects until a page answers or a redirect leaves the origin (a relying party's callback). */
  async go(url: string, form?: Record<string, string>): Promise<Page> {
    let current = url;
    let res = await this.request(current, form);
    for (let i = 0; i < 15; i++) {
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { url: current, status: res.status, html: await res.text() };
      const next = new URL(location, current).toString();
      if (!this.origins.some((o) => next.startsWith(o))) return { url: current, status: res.status, html: '', location: next };
      current = next;
      res = await this.request(current);
    }
    throw new Error('too many redirects');
  }
}

export interface Answers {
  /** Credentials for a password page of the given tenant slug. */
  password?: (slug: string) => { email: string; password: string } | undefined;
  /** A code for a second-factor page. */
  code?: () => string;
}

const slugOf = (url: string) => /\/t\/([^/]+)\//.exec(url)?.[1] ?? '';

/**
 * Drives the pages from `page` on: password pages (of tenants `answers.password` knows), second
 * factor, consent (allow). Stops at a redirect out of the origin or at a page it does not know.
 */
export async function drive(browser: FederationBrowser, page: Page, answers: Answers): Promise<Page> {
  for (let i = 0; i < 12 && !page.location; i++) {
    const { html, url } = page;
    if (page.status !== 200) return page;
    const base = url.split('?')[0].replace(/\/(login|mfa|confirm|federated)$/, '');
    const creds = html.includes('name="password"') ? answers.password?.(slugOf(url)) : undefined;
    if (creds) page = await browser.go(`${base}/login`, { csrf: csrfOf(html), email: creds.email, password: creds.password });
    else if (/interaction\/[^"]+\/mfa"/.test(html) && answers.code) page = await browser.go(`${base}/mfa`, { csrf: csrfOf(html), code: answers.code() });
    else if (html.includes('name="decision"')) page = await browser.go(`${base}/confirm`, { csrf: csrfOf(html), decision: 'allow' });
    else return page;
  }
  return page;
}

/** openid-client as the relying party of a tenant, registered as a client there. */
export interface TenantRp {
  config: import('openid-client').Configuration;
  redirectUri: string;
}

/**
 * The RP's authorization request, driven through whatever pages come (`answers`), up to the RP's
 * callback; `redeem` then exchanges the code (and fails when the callback was not reached).
 */
export async function signInThrough(rp: TenantRp, browser: FederationBrowser, answers: Answers, params: Record<string, string> = {}) {
  const oidc = await import('openid-client');
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri, scope: 'openid profile email roles', prompt: 'consent', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  const page = await drive(browser, await browser.go(url.href), answers);
  const redeem = async () => {
    if (!page.location?.startsWith(rp.redirectUri)) throw new Error(`did not reach the callback: ${page.status} ${page.url} ${page.html.slice(0, 300)}`);
    return oidc.authorizationCodeGrant(rp.config, new URL(page.location), { pkceCodeVerifier: verifier, expectedState: state });
  };
  return { page, browser, redeem };
}
