import { Browser, csrfOf } from './browser.js';
import type { TestGatehouse } from './gatehouse.js';

/**
 * Signs in to `${issuer}/account` the way a browser does: the account page sends it to the tenant's
 * login, which it fills in (password, then `code()` when a code is asked), and back.
 */
export async function signInToAccount(gh: TestGatehouse, slug: string, user: { email: string; password: string }, options: { browser?: Browser; code?: () => string; start?: string } = {}) {
  const browser = options.browser ?? new Browser();
  const base = `${gh.url}/t/${slug}/account`;
  let { res, url } = await browser.follow(options.start ?? base, gh.url);
  let html = await res.text();
  const go = async (answer: Response) => {
    if (answer.status !== 303) throw Object.assign(new Error(`sign-in refused: ${answer.status}`), { status: answer.status, html: await answer.text() });
    ({ res, url } = await browser.follow(new URL(answer.headers.get('location')!, url).toString(), gh.url));
    html = await res.text();
  };
  for (let i = 0; i < 3; i++) {
    if (html.includes('name="password"') && url.includes('/interaction/')) await go(await browser.post(`${url}/login`, { csrf: csrfOf(html), email: user.email, password: user.password }));
    else if (/interaction\/[^"]+\/mfa"/.test(html)) await go(await browser.post(`${url}/mfa`, { csrf: csrfOf(html), code: options.code?.() ?? '' }));
    else break;
  }
  return { browser, base, html, url, status: res.status };
}

/** Posts a form of an account page with the CSRF token of `html`. */
export function postForm(browser: Browser, url: string, html: string, form: Record<string, string> = {}) {
  return browser.post(url, { csrf: csrfOf(html), ...form });
}
