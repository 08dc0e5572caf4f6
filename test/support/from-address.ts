import { request } from 'node:http';

/**
 * fetch, sent from `localAddress` (Linux routes all of 127/8 to loopback) with `headers` added,
 * so a test sees which client address Gatehouse records. Redirects are never followed.
 */
export function fetchFrom(localAddress: string, headers: Record<string, string> = {}): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const body = init.body === undefined || init.body === null ? undefined
      : ArrayBuffer.isView(init.body) ? Buffer.from(init.body.buffer, init.body.byteOffset, init.body.byteLength) : String(init.body);
    const sent = Object.fromEntries(new Headers(init.headers));
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: init.method ?? 'GET', localAddress, family: 4, headers: { ...sent, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const answer = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : [value ?? '']) answer.append(name, v);
          }
          const empty = res.statusCode === 204 || res.statusCode === 304;
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status: res.statusCode, headers: answer }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }) as typeof fetch;
}
