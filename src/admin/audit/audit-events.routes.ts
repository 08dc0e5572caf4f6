import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { findAuditEventsPage } from './audit-events.queries.js';

export const AuditQuery = z.object({
  type: z.string().max(100).optional(),
  actor: z.string().max(300).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});

export const AuditEventAnswer = z.object({
  id: z.number().int().describe('Position in the tenant\'s chain'),
  at: z.iso.datetime({ offset: true }),
  type: z.string().describe('noun.verb, e.g. user.created'),
  actor: z.string().nullable().describe('Who acted: user:<id>, client:<client_id>, cli or system'),
  subject: z.string().nullable().describe('What it was done to, as kind:key: user:<id>, client:<client_id>, tenant:<slug>, role:<name>, group:<id>, resource:<identifier>, key:<kid>, saml-connection:<name>'),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  outcome: z.enum(['success', 'failure']),
  details: z.record(z.string(), z.unknown()).nullable(),
  prev_hash: z.string(),
  hash: z.string(),
}).meta({ id: 'AuditEvent', description: 'One event of the tenant\'s hash-chained audit trail (the trail\'s column names).' });

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const auditOperations = operations('Audit', [
  {
    method: 'get', path: '/tenants/{slug}/audit-events', operationId: 'listAuditEvents', summary: 'List audit events, newest first',
    description: 'Filter by `type`, `actor` (exact) and the time range `since` ≤ at < `until`.', list: true, query: AuditQuery, response: AuditEventAnswer,
  },
]);

const presentEvent = (r: any): z.output<typeof AuditEventAnswer> => ({
  id: Number(r.id), at: new Date(r.at).toISOString(), type: r.type, actor: r.actor, subject: r.subject, ip: r.ip, user_agent: r.user_agent,
  outcome: r.outcome, details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details, prev_hash: r.prev_hash, hash: r.hash,
});

export function auditRoutes(router: Router, deps: Deps) {
  router.get('/tenants/:slug/audit-events', requireAdmin(deps), async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const q = AuditQuery.parse(ctx.query);
    const rows = await findAuditEventsPage(deps.db, ctx.state.tenant.id, {
      type: q.type, actor: q.actor, since: q.since ? new Date(q.since) : undefined, until: q.until ? new Date(q.until) : undefined,
      beforeId: decodeCursor(cursor, z.number().int().positive()), limit: limit + 1,
    });
    ctx.body = page(rows, limit, (r) => Number(r.id), presentEvent);
  });
}
