import { csrfOf } from './browser.js';

/**
 * A cookie jar that keeps Path apart as browsers do: two tenants of one Gatehouse each set an
 * `_interaction` cookie, on their own path, and a federated login holds both at once.
 */
export class PathCookieJar {
  #cookies = new Map<string, { name: string; value: string; path: string }>();

  store(res: Response, url: string) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => /^path=/i.test(a));
      const path = pathAttr ? pathAttr.slice(5) : new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
      const expired = attrs.some((a) => /^\s*expires=/i.test(a) && new Date(a.split('=')[1]).getTime() < Date.now()) || attrs.some((a) => /^\s*max-age=0/i.test(a));
      const key = `${name} ${path}`;
      if (expired || value === '') this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }

  header(url: string) {
    const path = new URL(url).pathname;
    return [...this.#cookies.values()]
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

  constructor(readonly origin: string) {}

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
      if (!next.startsWith(this.origin)) return { url: current, status: res.status, html: '', location: next };
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
