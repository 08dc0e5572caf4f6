import { z } from 'zod';
import { SAML_CONNECTION_NAME } from '../domain/saml-connections/saml-connections.types.js';
import { TENANT_SLUG } from '../domain/tenants/tenants.types.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * One operation of the admin API as the OpenAPI document shows it. Each `<resource>.routes.ts`
 * declares the operations of its routes beside them (`export const <resource>Operations =
 * operations('Tag', [...])`) with the same zod schemas the routes parse with and the schemas their
 * presenters return (domain/present.ts); admin/openapi.ts builds the document from these lists
 * alone, and a test holds them to the router (test/integration/admin/openapi.test.ts).
 */
export interface Operation {
  method: Method;
  /** Below /admin/v1, with `{name}` parameters: '/tenants/{slug}/clients/{client_id}'. */
  path: string;
  /** camelCase verb + noun, unique: createTenant, listUsers, rotateClientSecret. */
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** Query parameters besides a list's limit and cursor. */
  query?: z.ZodObject;
  /** A list: `?limit=&cursor=` and a `{items, next_cursor}` answer of `response` items. */
  list?: boolean;
  /** A list answered whole (`next_cursor` always null): no limit and cursor parameters. */
  onePage?: boolean;
  body?: z.ZodType;
  /** false when the body may be left out (e.g. rotating a key with the default algorithm). */
  bodyRequired?: boolean;
  /** The success status: 200 (default), 201 for a creation, 204 without a body. */
  status?: 200 | 201 | 204;
  /** The answer's schema (an item's, for a list). Absent with 204. */
  response?: z.ZodType;
  /** Problem statuses beyond those every operation may answer (see openapi.ts `errorsOf`). */
  errors?: (409 | 413)[];
  /** Examples; they are checked against the schemas by the linter. */
  requestExample?: unknown;
  responseExample?: unknown;
}

/** Declares the operations of one resource under one tag. */
export function operations(tag: string, ops: Omit<Operation, 'tag'>[]): Operation[] {
  return ops.map((op) => ({ ...op, tag }));
}

/** The path parameters of every route, by name, as the routes check them. */
export const PATH_PARAMS: Record<string, { schema: z.ZodType; description: string }> = {
  slug: { schema: z.string().regex(TENANT_SLUG), description: 'The tenant\'s slug (its issuer is `${PUBLIC_URL}/t/{slug}`)' },
  client_id: { schema: z.string().min(1), description: 'The client\'s client_id' },
  id: { schema: z.uuid(), description: 'The record\'s id' },
  sid: { schema: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/), description: 'The session\'s id as listed by listUserSessions' },
  name: { schema: z.string().regex(SAML_CONNECTION_NAME), description: 'The connection\'s name' },
};
