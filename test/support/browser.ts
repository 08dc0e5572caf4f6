/** A tiny cookie jar and a form-following client, to drive the pages the way a browser does. */
export class CookieJar {
  #cookies = new Map<string, string>();

  store(res: Response) {
    this.storeLines(res.headers.getSetCookie());
  }

  /** Set-Cookie header lines, as any HTTP client hands them over. */
  storeLines(lines: string[]) {
    for (const line of lines) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=/i.test(a) && new Date(a.split('=')[1]).getTime() < Date.now()) || attrs.some((a) => /^\s*max-age=0/i.test(a));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  names() {
    return [...this.#cookies.keys()];
  }
}

export class Browser {
  jar = new CookieJar();

  /** `send` replaces fetch, e.g. to send from another client address (from-address.ts). */
  constructor(private readonly send: typeof fetch = fetch) {}

  async get(url: string) {
    const res = await this.send(url, { redirect: 'manual', headers: { cookie: this.jar.header() } });
    this.jar.store(res);
    return res;
  }

  async post(url: string, form: Record<string, string>) {
    const res = await this.send(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: this.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    this.jar.store(res);
    return res;
  }

  /** Follows redirects until one leaves `origin` (the relying party's callback) or a page answers. */
  async follow(url: string, origin: string): Promise<{ res: Response; url: string }> {
    let current = url;
    for (let i = 0; i < 10; i++) {
      if (!current.startsWith(origin)) return { res: new Response(null, { status: 302 }), url: current };
      const res = await this.get(current);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        current = new URL(location, current).toString();
        continue;
      }
      return { res, url: current };
    }
    throw new Error('too many redirects');
  }
}

export function formAction(html: string, index = 0) {
  const actions = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
  return actions[index];
}

export function csrfOf(html: string) {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no csrf token in page');
  return m[1];
}
