import winston from 'winston';
import { requestStore, runWithRequestStore } from './request-store.js';

export interface LogContext {
  request_id?: string;
  tenant?: string;
  route?: string;
}

/** Keys whose values never reach a log line (STYLE.md "Logging"). */
const SECRET_KEY = /password|secret|code|token|assertion|authorization|cookie|key|hash|seed/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && typeof v !== 'boolean' ? '[redacted]' : redact(v, depth + 1);
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
