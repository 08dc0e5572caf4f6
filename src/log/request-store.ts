import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogContext } from './logger.js';
import type { RequestObserver } from './observe.js';

/**
 * What the request in progress carries through its asynchronous calls: the log context
 * (logger.ts) and the metrics observer (observe.ts). One store for both: on Node 20 every
 * AsyncLocalStorage is copied onto every promise made anywhere in the process (about 45 ns per
 * store and promise, measured), and a token grant makes thousands of promises. Node 24 does not
 * pay per store.
 */
export interface RequestStore {
  log?: LogContext;
  observer?: RequestObserver;
}

const store = new AsyncLocalStorage<RequestStore>();

/** Runs `fn` with `entries` over what the enclosing request already carries. */
export function runWithRequestStore<T>(entries: RequestStore, fn: () => T): T {
  return store.run({ ...store.getStore(), ...entries }, fn);
}

export function requestStore(): RequestStore | undefined {
  return store.getStore();
}
