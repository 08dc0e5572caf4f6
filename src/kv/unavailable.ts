import {
  ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ErrorReply, ReconnectStrategyError,
  RootNodesUnavailableError, SocketClosedUnexpectedlyError, SocketTimeoutError,
} from 'redis';

/**
 * How long a command may go unanswered. A Redis that accepts connections and answers nothing (a
 * hung or frozen server, a network that drops packets) would otherwise hold every request waiting
 * on it for as long as the connection looks open: past this, the request answers 503 (or the rate
 * limits fail open), as when Redis is down. /readyz gives up on Redis sooner (ops/readiness).
 */
export const KV_COMMAND_DEADLINE_MS = 3000;

export class KvNoAnswerError extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
    this.name = 'KvNoAnswerError';
  }
}

/** `work`, or KvNoAnswerError once `ms` have passed without its answer (a late answer is dropped). */
export function withinDeadline<T>(work: Promise<T>, ms = KV_COMMAND_DEADLINE_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new KvNoAnswerError(ms)), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

const REDIS_DOWN = [
  KvNoAnswerError,
  ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ReconnectStrategyError, SocketClosedUnexpectedlyError,
  SocketTimeoutError, RootNodesUnavailableError,
];
/**
 * Error codes (a reply's first word) of a Redis that cannot serve the command right now: a
 * cluster's slot in failover or resharding (CLUSTERDOWN, TRYAGAIN, MASTERDOWN), a server loading
 * its data (LOADING), a replica refusing a write (READONLY: after a failover, a connection left on
 * the old master; redis.ts reconnects), a server out of its memory limit (OOM), one without the
 * replicas its min-replicas-to-write asks (NOREPLICAS), one running a script too long (BUSY).
 */
const UNAVAILABLE_REPLIES = new Set(['CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'LOADING', 'READONLY', 'OOM', 'NOREPLICAS', 'BUSY']);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The code of a Redis error reply (its first word); for a MULTI the server discarded, the code of
 * the error that made it discard it (Redis 7: `EXECABORT Transaction discarded because of: READONLY …`).
 */
export function replyCode(err: unknown): string | undefined {
  if (!(err instanceof ErrorReply)) return undefined;
  const code = err.message.split(' ', 1)[0];
  if (code !== 'EXECABORT') return code;
  return /because of: ([A-Z]+)/.exec(err.message)?.[1] ?? code;
}

/** True for an error that says Redis cannot be reached right now, by class or code, never by message. */
export function isKvUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (REDIS_DOWN.some((k) => err instanceof k)) return true;
  const reply = replyCode(err);
  if (reply && UNAVAILABLE_REPLIES.has(reply)) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && SOCKET_CODES.has(code);
}
