import {
  ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ReconnectStrategyError,
  SocketClosedUnexpectedlyError, SocketTimeoutError,
} from 'redis';

const REDIS_DOWN = [ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ReconnectStrategyError, SocketClosedUnexpectedlyError, SocketTimeoutError];
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** True for an error that says Redis cannot be reached right now, by class or code, never by message. */
export function isKvUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (REDIS_DOWN.some((k) => err instanceof k)) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && SOCKET_CODES.has(code);
}
