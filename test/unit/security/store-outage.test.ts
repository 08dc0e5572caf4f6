import { StoreOutage } from '../../../src/security/rate-limit.js';
import { logLines } from '../../support/gatehouse.js';

// docs/scaling.md: a rate-limit store outage is logged once, and its end once the store answers.
describe('the log of a rate-limit store outage', () => {
  const outageLines = (from: number) => logLines.slice(from).map((l) => JSON.parse(l).message as string).filter((m) => m.startsWith('rate_limit.store_'));

  it('logs a partial outage (some calls fail, others answer) once, and its end after 10 s without a failure', () => {
    let now = 1_000_000;
    const outage = new StoreOutage(() => now);
    const before = logLines.length;
    // One master of a cluster lost: its tenants' calls fail every few requests, the others answer.
    for (let i = 0; i < 30; i++) {
      now += 500;
      if (i % 3 === 0) outage.failed(new Error('connect ECONNREFUSED 10.0.0.7:6379'));
      else outage.answered();
    }
    expect(outageLines(before)).toEqual(['rate_limit.store_unavailable']);
    // The last failure was at i = 27, 1 s before the loop ended.
    now += 8_000;
    outage.answered();
    expect(outageLines(before)).toEqual(['rate_limit.store_unavailable']);
    now += 1_000; // 10 s since the last failure
    outage.answered();
    outage.answered();
    expect(outageLines(before)).toEqual(['rate_limit.store_unavailable', 'rate_limit.store_recovered']);
    // A new outage is a new pair.
    outage.failed(new Error('The client is offline'));
    expect(outageLines(before)).toEqual(['rate_limit.store_unavailable', 'rate_limit.store_recovered', 'rate_limit.store_unavailable']);
  });

  it('says nothing while the store answers', () => {
    const outage = new StoreOutage();
    const before = logLines.length;
    for (let i = 0; i < 5; i++) outage.answered();
    expect(outageLines(before)).toEqual([]);
  });
});
