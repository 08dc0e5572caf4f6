import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { requireAdmin } from '../access.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { findAuditEventsPage } from './audit-events.queries.js';

export const AuditQuery = z.object({
  type: z.string().max(100).optional(),
  actor: z.string().max(300).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});

const presentEvent = (r: any) => ({
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
