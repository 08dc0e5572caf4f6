import type { Context } from 'koa';
import { Problem } from './problem.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A path parameter that names a record by UUID. Anything else cannot name one, so it is the same
 * 404 as an unknown id (and never reaches Postgres as an invalid uuid).
 */
export function uuidParam(ctx: Context, name: string, notFound: () => Problem): string {
  const value = (ctx as Context & { params: Record<string, string> }).params[name];
  if (!UUID.test(value)) throw notFound();
  return value.toLowerCase();
}
