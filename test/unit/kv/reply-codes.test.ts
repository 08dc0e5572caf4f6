import { ErrorReply } from 'redis';
import { isKvUnavailable, replyCode } from '../../../src/kv/unavailable.js';

// Redis refusals that mean "not now" answer 503 (src/kv/unavailable.ts). A MULTI that a server
// turned replica between its commands and EXEC is refused as a whole, with the cause after
// "because of:" (this message is what Redis 7.0 answered here, read off a real server).
describe('Redis error replies', () => {
  it('are told by their code, an aborted MULTI by the code that aborted it', () => {
    const aborted = new ErrorReply("EXECABORT Transaction discarded because of: READONLY You can't write against a read only replica.");
    expect(replyCode(aborted)).toBe('READONLY');
    expect(isKvUnavailable(aborted)).toBe(true);
    expect(isKvUnavailable(new ErrorReply("READONLY You can't write against a read only replica."))).toBe(true);
    expect(isKvUnavailable(new ErrorReply("OOM command not allowed when used memory > 'maxmemory'."))).toBe(true);
    // A MULTI aborted by a mistake of ours is no outage.
    expect(isKvUnavailable(new ErrorReply('EXECABORT Transaction discarded because of previous errors.'))).toBe(false);
    expect(isKvUnavailable(new ErrorReply("ERR wrong number of arguments for 'get' command"))).toBe(false);
    expect(isKvUnavailable(new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
  });
});
