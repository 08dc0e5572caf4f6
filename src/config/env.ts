import { z } from 'zod';
import { parseCidr } from './cidr.js';

const whole = (min: number, max: number, what: string) => {
  const message = `must be ${what} from ${min} to ${max}`;
  return z.coerce.number({ message }).int({ message }).min(min, { message }).max(max, { message });
};
const port = whole(1, 65535, 'a port number');
const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`, abort: true });

/** `addr@domain` or `Display Name <addr@domain>`, one line (it becomes a mail header). */
const MAILBOX = /^(?:[^<>\r\n@]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;

const masterKey = z
  .string()
  .refine((v) => Buffer.from(v, 'base64').length === 32 && /^[A-Za-z0-9+/]+={0,2}$/.test(v), 'must be 32 bytes, base64-encoded (openssl rand -base64 32)');

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

/**
 * Comma-separated address blocks (IPv4 and IPv6; a bare address is one host), parsed; a bad entry
 * is named in the error. With `loopback`, that word stands for 127.0.0.0/8 and ::1 (TRUST_PROXY).
 */
const cidrList = ({ loopback = false } = {}) => z.string().transform((value, ctx) => {
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean).flatMap((e) => (loopback && e === 'loopback' ? LOOPBACK : [e]));
  const bad = entries.find((e) => !parseCidr(e));
  if (bad === undefined) return entries.map((e) => parseCidr(e)!);
  ctx.addIssue({ code: 'custom', message: loopback
    ? `must be comma-separated CIDRs (e.g. 10.0.0.0/8,fd00::/8) or loopback; "${bad}" is neither`
    : `must be comma-separated CIDRs such as 10.0.0.0/8,fd00::/8 ("${bad}" is not one)` });
  return z.NEVER;
});

/** `host:port,host:port,…`: a hostname or IPv4 address, or an IPv6 one in brackets, and a port. */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const hostPortList = z.string().transform((value, ctx) => {
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.find((e) => {
    const m = HOST_PORT.exec(e);
    return !m || Number(m[1]) < 1 || Number(m[1]) > 65535;
  });
  if (entries.length && bad === undefined) return entries;
  ctx.addIssue({ code: 'custom', message: `must be comma-separated host:port pairs such as redis-0:6379,redis-1:6379${bad === undefined ? '' : ` ("${bad}" is not one)`}` });
  return z.NEVER;
});

/** Exactly the variables of DESIGN.md "Configuration"; everything else in the environment is ignored. */
export const EnvSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: port.default(3000),
  PUBLIC_URL: url(['http:', 'https:'])
    .refine((v) => !v.endsWith('/'), 'must not end with a slash')
    .refine((v) => !new URL(v).search && !new URL(v).hash, 'must not carry a query or fragment')
    .optional(),
  TRUST_PROXY: cidrList({ loopback: true }).optional(),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  REDIS_CLUSTER_NODES: hostPortList.optional(),
  GATEHOUSE_DATA_DIR: z.string().min(1).default('./data'),
  GATEHOUSE_MASTER_KEY: masterKey.optional(),
  // The key before a rotation, read only by `gatehouse master-key rotate`.
  GATEHOUSE_MASTER_KEY_PREVIOUS: masterKey.optional(),
  GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, 'must be 3-128 URL-safe characters').optional(),
  GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL: z.string().email('must be an email address').optional(),
  GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  MAIL_FROM: z.string().trim().regex(MAILBOX, 'must be an address such as no-reply@example.com or "Gatehouse <no-reply@example.com>"').default('Gatehouse <no-reply@localhost>'),
  OUTBOUND_ALLOW: cidrList().optional(),
  METRICS_ALLOW: cidrList().optional(),
  GATEHOUSE_MIGRATE_ON_START: z.enum(['true', 'false'], 'must be true or false').default('true'),
  BCRYPT_COST: whole(4, 31, 'a whole number').default(12), // each step doubles the time a login takes
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

export type Env = z.infer<typeof EnvSchema>;
