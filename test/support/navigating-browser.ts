import http from 'node:http';
import { Browser } from './browser.js';

/**
 * The cookie-jar browser, sending what a browser sends on a top-level navigation. fetch (undici)
 * always sends `Sec-Fetch-Mode: cors`, which mod_auth_openidc rightly takes for a script's XHR
 * and answers 401 instead of redirecting to the provider; node:http lets us send `navigate`.
 */
export class NavigatingBrowser extends Browser {
  override get(url: string) {
    return this.navigate('GET', url);
  }

  override post(url: string, form: Record<string, string>) {
    return this.navigate('POST', url, new URLSearchParams(form).toString());
  }

  private async navigate(method: string, url: string, body?: string) {
    const headers: Record<string, string> = {
      accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
      'user-agent': 'Mozilla/5.0 (gatehouse interop test)',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
    };
    const cookie = this.jar.header();
    if (cookie) headers.cookie = cookie;
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await new Promise<Response>((resolve, reject) => {
      const req = http.request(url, { method, headers }, (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (c: Buffer) => chunks.push(c));
        incoming.on('error', reject);
        incoming.on('end', () => {
          const out = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) {
            for (const v of Array.isArray(value) ? value : [value ?? '']) out.append(name, v);
          }
          const status = incoming.statusCode!;
          resolve(new Response([204, 304].includes(status) ? null : Buffer.concat(chunks), { status, headers: out }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
    this.jar.store(res);
    return res;
  }
}
