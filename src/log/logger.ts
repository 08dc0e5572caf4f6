import winston from 'winston';
import { requestStore, runWithRequestStore } from './request-store.js';

export interface LogContext {
  request_id?: string;
  tenant?: string;
  route?: string;
}

/** Keys whose values never reach a log line (STYLE.md "Logging"). */
const SECRET_KEY = /password|secret|code|token|assertion|authorization|cookie|key|hash|seed/i;

/**
 * Fields whose names look secret and whose values are not: an error's `code` (an errno such as
 * ECONNREFUSED, or a SQLSTATE) and a key's fingerprint (what `master_key.rotated` records).
 */
const NOT_SECRET = (parent: string | undefined, k: string) => (parent === 'error' && k === 'code') || k === 'key_fingerprint';

/**
 * A copy of `value` where every field named like a secret holds `[redacted]`, at any depth. A
 * number or a boolean is kept (a count, a flag: no secret of ours is one), so audit details such
 * as `{ reencrypted: { 'signing_keys.private_jwk_encrypted': 3 } }` keep their meaning.
 */
export function redact(value: unknown, depth = 0, parent?: string): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, parent));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const kept = v === undefined || v === null || typeof v === 'boolean' || typeof v === 'number' || NOT_SECRET(parent, k);
    out[k] = SECRET_KEY.test(k) && !kept ? '[redacted]' : redact(v, depth + 1, k);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  const ctx = requestStore()?.log;
  const clean = redact({ ...info }) as winston.Logform.TransformableInfo;
  for (const sym of Object.getOwnPropertySymbols(info)) (clean as any)[sym] = (info as any)[sym];
  return Object.assign(clean, ctx ?? {});
});

let root = winston.createLogger({
  level: process.env.LOG_LEVEL || 'info',
  format: winston.format.combine(winston.format.timestamp(), redactFormat(), winston.format.json()),
  transports: [new winston.transports.Console()],
});

/** `stderr`: every level goes to stderr, so stdout carries only a command's output (the CLI). */
export function configureLogger(options: { level?: string; transport?: winston.transport; silent?: boolean; stderr?: boolean }) {
  const stderrLevels = options.stderr ? Object.keys(winston.config.npm.levels) : [];
  root = winston.createLogger({
    level: options.level ?? root.level,
    silent: options.silent,
    format: winston.format.combine(winston.format.timestamp(), redactFormat(), winston.format.json()),
    transports: [options.transport ?? new winston.transports.Console({ stderrLevels })],
  });
}

/**
 * One line to stderr in the log format (JSON), whatever the log level: the start banner, which
 * tells the operator what to do next and must not be lost among, or filtered out with, the logs.
 */
export function announce(message: string, meta: Record<string, unknown>) {
  winston.createLogger({
    level: 'info',
    format: winston.format.combine(winston.format.timestamp(), redactFormat(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['info'] })],
  }).info(message, meta);
}

/** The logger of the current request (request_id, tenant, route) or the root logger. */
export function log(): winston.Logger {
  return root;
}

export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return runWithRequestStore({ log: ctx }, fn);
}

export function logContext(): LogContext | undefined {
  return requestStore()?.log;
}

/** What oidc-provider prints itself (helpers/attention.js), colour codes and all. */
const PROVIDER_NOTICE = /^(?:\x1b\[[0-9;]*m)?oidc-provider (NOTICE|WARNING): ([\s\S]*?)(?:\x1b\[[0-9;]*m)?$/;

/**
 * oidc-provider tells about a default it used the first time it uses it (a notice through
 * `console.info`, on stdout), at any request: such a line would be the one line of stdout that is
 * no JSON. From here on they are log lines (`provider.notice`); anything else goes to the console
 * as before. Returns what puts the console back.
 */
export function logProviderNotices() {
  const original = { info: console.info, warn: console.warn };
  const wrap = (level: 'info' | 'warn') => (...args: unknown[]) => {
    const match = args.length === 1 && typeof args[0] === 'string' ? PROVIDER_NOTICE.exec(args[0]) : null;
    if (!match) return original[level].apply(console, args);
    log()[match[1] === 'WARNING' ? 'warn' : 'info']('provider.notice', { detail: match[2] });
  };
  console.info = wrap('info');
  console.warn = wrap('warn');
  return () => Object.assign(console, original);
}
