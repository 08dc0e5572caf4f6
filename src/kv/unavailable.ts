import {
  ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ErrorReply, ReconnectStrategyError,
  RootNodesUnavailableError, SocketClosedUnexpectedlyError, SocketTimeoutError,
} from 'redis';

const REDIS_DOWN = [
  ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ReconnectStrategyError, SocketClosedUnexpectedlyError,
  SocketTimeoutError, RootNodesUnavailableError,
];
/** Error codes (a reply's first word) of a Redis Cluster that cannot serve a slot right now: failover, resharding. */
const CLUSTER_CODES = new Set(['CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'LOADING']);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** True for an error that says Redis cannot be reached right now, by class or code, never by message. */
export function isKvUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (REDIS_DOWN.some((k) => err instanceof k)) return true;
  if (err instanceof ErrorReply && CLUSTER_CODES.has(err.message.split(' ', 1)[0])) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && SOCKET_CODES.has(code);
}
