import knexFactory from 'knex';
import { ClientOfflineError } from 'redis';
import { unavailableDetails } from '../../../src/deps.js';
import { KvNoAnswerError } from '../../../src/kv/unavailable.js';

// The log lines of a 503 (request.unavailable, provider.unavailable) say which store failed and how.
describe('unavailableDetails', () => {
  it('names Redis for node-redis errors and an unanswered command', () => {
    expect(unavailableDetails(new ClientOfflineError())).toMatchObject({ store: 'redis', message: 'The client is offline' });
    expect(unavailableDetails(new KvNoAnswerError(3000))).toMatchObject({ store: 'redis', name: 'KvNoAnswerError', message: 'Redis did not answer within 3000 ms' });
  });

  it('names PostgreSQL for a SQLSTATE of a server going away and for no pool connection in time', () => {
    const shutdown = Object.assign(new Error('terminating connection due to administrator command\nmore'), { code: '57P01' });
    expect(unavailableDetails(shutdown)).toEqual({ store: 'postgres', name: 'Error', code: '57P01', message: 'terminating connection due to administrator command' });
    expect(unavailableDetails(new knexFactory.KnexTimeoutError('Knex: Timeout acquiring a connection.'))).toMatchObject({ store: 'postgres', name: 'KnexTimeoutError' });
  });

  it('leaves a socket error to its message, which names the address', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379'), { code: 'ECONNREFUSED' });
    expect(unavailableDetails(refused)).toEqual({ store: undefined, name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.7:6379' });
  });
});
