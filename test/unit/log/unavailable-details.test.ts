import knexFactory from 'knex';
import { ClientOfflineError } from 'redis';
import { unavailableDetails } from '../../../src/deps.js';
import { KvNoAnswerError } from '../../../src/kv/unavailable.js';

// The log lines of a 503 (request.unavailable, provider.unavailable) say which store failed and how.
describe('unavailableDetails', () => {
  it('names Redis for node-redis errors and an unanswered command, with their message', () => {
    expect(unavailableDetails(new ClientOfflineError())).toMatchObject({ store: 'redis', message: 'The client is offline' });
    expect(unavailableDetails(new KvNoAnswerError(3000))).toMatchObject({ store: 'redis', name: 'KvNoAnswerError', message: 'Redis did not answer within 3000 ms' });
  });

  it('names PostgreSQL for a SQLSTATE of a server going away and for no pool connection in time, without the message (knex puts the statement there)', () => {
    const shutdown = Object.assign(new Error('update "users" set "password_hash" = $1 where "id" = $2 - terminating connection due to administrator command'), { code: '57P01' });
    expect(unavailableDetails(shutdown)).toEqual({ store: 'postgres', name: 'Error', code: '57P01' });
    expect(unavailableDetails(new knexFactory.KnexTimeoutError('Knex: Timeout acquiring a connection.'))).toMatchObject({ store: 'postgres', name: 'KnexTimeoutError' });
  });

  it('gives a socket error its peer, not its message', () => {
    const refused = Object.assign(new Error('select * from users where email = $1 - connect ECONNREFUSED 10.0.0.7:6379'), { code: 'ECONNREFUSED', address: '10.0.0.7', port: 6379 });
    expect(unavailableDetails(refused)).toEqual({ store: undefined, name: 'Error', code: 'ECONNREFUSED', address: '10.0.0.7:6379' });
  });
});
