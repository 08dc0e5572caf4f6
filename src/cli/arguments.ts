import { z } from 'zod';
import type { Deps } from '../deps.js';
import { decodeCursorKey } from '../domain/pagination.js';
import { findTenantBySlug } from '../domain/tenants/tenants.queries.js';
import { Refused, type OptionSpec } from './table.js';

/** Options every list command takes, as `?limit=&cursor=` on the admin API. */
export const LIST_OPTIONS: Record<string, OptionSpec> = {
  limit: { type: 'string', value: 'N', help: 'at most N items (1-200, default 50)' },
  cursor: { type: 'string', value: 'CURSOR', help: 'continue after the page that printed this cursor' },
};

export const TENANT_OPTION: Record<string, OptionSpec> = {
  tenant: { type: 'string', value: 'SLUG', required: true, help: 'the tenant' },
};

export function listArgs(values: Record<string, unknown>) {
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new Refused('--limit must be a whole number from 1 to 200');
  return { limit, cursor: values.cursor as string | undefined };
}

/** The sort key inside --cursor, or undefined; a cursor this CLI (or the admin API) did not print is refused. */
export function cursorKey(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = decodeCursorKey(cursor);
  } catch {
    key = undefined;
  }
  const parsed = z.string().max(1024).refine((s) => !s.includes('\u0000')).safeParse(key);
  if (!parsed.success) throw new Refused('--cursor is not a cursor that a list printed');
  return parsed.data;
}

export const commaList = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

export async function tenantOf(deps: Deps, slug: unknown) {
  const tenant = typeof slug === 'string' ? await findTenantBySlug(deps.db, slug) : undefined;
  if (!tenant) throw new Refused(`unknown tenant: ${String(slug)}`);
  return tenant;
}

export async function readStdin() {
  let data = '';
  for await (const chunk of process.stdin) data += chunk;
  return data.replace(/\r?\n$/, '');
}
