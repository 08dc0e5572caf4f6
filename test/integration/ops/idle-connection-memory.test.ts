import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { exposedGC } from '../../support/gc.js';

// A keep-alive connection left idle after its answer (as a load balancer's pool holds hundreds)
// must not keep that request alive: its context, headers and answer. On Node 20 the request's
// async context is copied onto the connection's idle timer, set as the answer ends; whatever that
// context references lives as long as the timer (ops/metrics.ts builds its observer apart from the
// request for that reason).
const gc = exposedGC();

let gh: TestGatehouse;
beforeAll(async () => {
  gh = await startTestGatehouse();
});
afterAll(() => gh.stop());

function get(url: string, agent: http.Agent) {
  return new Promise<{ status: number; socket: unknown }>((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: res.socket }));
    }).on('error', reject);
  });
}

describe('an idle keep-alive connection', () => {
  it('holds nothing of the request it last carried', async () => {
    const tenant = await gh.tenant();
    const answers: WeakRef<object>[] = [];
    const onRequest = (_req: http.IncomingMessage, res: http.ServerResponse) => void answers.push(new WeakRef(res));
    gh.server.on('request', onRequest);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // A provider route (discovery) and a Koa route (the admin API's answer to no token).
      const first = await get(`${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`, agent);
      expect(first.status).toBe(200);
      const second = await get(`${gh.url}/admin/v1/tenants`, agent);
      expect(second.status).toBe(401);
      expect(second.socket).toBe(first.socket); // one connection, now idle and open
      gh.server.off('request', onRequest);
      expect(answers).toHaveLength(2);

      for (let i = 0; i < 5 && answers.some((a) => a.deref()); i++) {
        await sleep(50);
        gc();
      }
      expect(answers.map((a) => a.deref() === undefined)).toEqual([true, true]);
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1); // still open
    } finally {
      gh.server.off('request', onRequest);
      agent.destroy();
    }
  });
});
