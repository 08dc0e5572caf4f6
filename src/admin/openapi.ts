import { z } from 'zod';
import { listAnswer } from '../domain/present.js';
import { auditOperations } from './audit/audit-events.routes.js';
import { clientOperations } from './clients/clients.routes.js';
import { groupOperations } from './groups/groups.routes.js';
import { keyOperations } from './keys/keys.routes.js';
import { PATH_PARAMS, type Operation } from './operations.js';
import { ListQuery } from './pagination.js';
import { oidcConnectionOperations } from './oidc-connections/oidc-connections.routes.js';
import { resourceOperations } from './rbac/resources.routes.js';
import { roleOperations } from './rbac/roles.routes.js';
import { samlConnectionOperations } from './saml-connections/saml-connections.routes.js';
import { tenantOperations } from './tenants/tenants.routes.js';
import { userSecurityOperations } from './users/user-security.routes.js';
import { userOperations } from './users/users.routes.js';

/** The one route the document leaves out: itself, served without a token. */
export const DOCUMENT_PATH = '/openapi.json';

/** Every operation of the admin API, in the document's order. New resources add their list here. */
export const OPERATIONS: Operation[] = [
  ...tenantOperations, ...clientOperations, ...userOperations, ...userSecurityOperations, ...resourceOperations, ...roleOperations,
  ...groupOperations, ...samlConnectionOperations, ...oidcConnectionOperations, ...keyOperations, ...auditOperations,
];

const TAGS: Record<string, string> = {
  Tenants: 'Tenants and their settings (creating, listing and deleting them takes system-admin)',
  Clients: 'OIDC clients (relying parties and machine clients) of a tenant, their secrets and roles',
  Users: 'Users of a tenant, their roles, password, MFA and lockout',
  Sessions: 'A user\'s live login sessions',
  Resources: 'API resources (RFC 8707 identifiers) and the permissions they define',
  Roles: 'Roles bundling permissions; assigned to users, groups and clients by name',
  Groups: 'Groups (teams): a member holds the group\'s roles',
  'SAML connections': 'SAML identity providers federated with a tenant',
  'OIDC connections': 'Upstream OpenID providers federated with a tenant (the client secret goes in, never out)',
  Keys: 'A tenant\'s signing keys (public parts only)',
  Audit: 'The tenant\'s hash-chained audit trail',
};

const PROBLEMS: Record<number, [name: string, description: string, example: { code: string; detail: string }]> = {
  400: ['BadRequest', 'The request has invalid fields, parameters or JSON (each field in `errors`).', { code: 'invalid_request', detail: 'The request has invalid fields.' }],
  401: ['Unauthorized', 'No access token, or one that is invalid, expired or not for the admin API.', { code: 'invalid_token', detail: 'The access token is invalid or expired.' }],
  403: ['Forbidden', 'The principal lacks system-admin or tenant-admin for this tenant.', { code: 'forbidden', detail: 'This principal may not administer this tenant.' }],
  404: ['NotFound', 'No such tenant, or no such record in it.', { code: 'tenant_not_found', detail: 'There is no tenant with this slug.' }],
  409: ['Conflict', 'The change conflicts with what exists (a taken name, a built-in record).', { code: 'conflict', detail: 'The change conflicts with an existing record.' }],
  413: ['ContentTooLarge', 'The request body is too large.', { code: 'body_too_large', detail: 'The request body is too large.' }],
  429: ['TooManyRequests', 'The principal exceeded the admin API\'s rate limit; retry after `Retry-After` seconds.', { code: 'rate_limited', detail: 'Too many requests from this principal; retry later.' }],
  503: ['ServiceUnavailable', 'Storage is unreachable; retry after `Retry-After` seconds.', { code: 'temporarily_unavailable', detail: 'The service cannot complete this request right now; retry shortly.' }],
};
const TITLES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Content Too Large', 429: 'Too Many Requests', 503: 'Service Unavailable' };

export const ProblemSchema = z.object({
  type: z.string().describe('urn:gatehouse:problem:<code>'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().describe('For people; may change'),
  code: z.string().describe('For programs; stable'),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional().describe('One entry per invalid field'),
  request_id: z.string().optional().describe('On 5xx answers: quote it when reporting'),
}).meta({ id: 'Problem', description: 'RFC 9457 problem details, the one error format of the admin API.' });

/** The problem statuses an operation may answer. */
export function errorsOf(op: Operation): number[] {
  const out = new Set<number>([401, 403, 429, 503]);
  if (op.body || op.query || (op.list && !op.onePage)) out.add(400);
  if (op.path.includes('{')) out.add(404);
  for (const s of op.errors ?? []) out.add(s);
  return [...out].sort();
}

const pascal = (id: string) => id[0].toUpperCase() + id.slice(1);
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** JSON Schemas of named zod schemas, each referring to the others by $ref (zod 4 registry). */
function components(named: Map<string, z.ZodType>, io: 'input' | 'output') {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of named) registry.add(schema, { ...(z.globalRegistry.get(schema) ?? {}), id });
  const { schemas } = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any' });
  // Schemas named by `.meta({ id })` but reached only inside others land in `__shared.$defs`: lift them.
  const { __shared, ...own } = schemas as Record<string, Record<string, unknown>>;
  const all = { ...own, ...((__shared?.$defs as Record<string, Record<string, unknown>>) ?? {}) };
  const text = JSON.stringify(all).replaceAll('#/components/schemas/__shared#/$defs/', '#/components/schemas/');
  return Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, Record<string, unknown>>).map(([id, s]) => {
    const { $schema, $id, id: _id, ...rest } = s;
    return [id, rest];
  }));
}

/** A standalone JSON Schema (a parameter's), without its `$schema`. */
function inline(schema: z.ZodType) {
  const { $schema, ...json } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return json;
}

/** The name of a response schema: its `.meta({ id })`, else the operation's. */
const nameOf = (schema: z.ZodType, fallback: string) => (z.globalRegistry.get(schema)?.id as string | undefined) ?? fallback;

function parametersOf(op: Operation) {
  const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => {
    const p = PATH_PARAMS[name];
    if (!p) throw new Error(`path parameter {${name}} of ${op.operationId} has no entry in PATH_PARAMS`);
    return { name, in: 'path', required: true, description: p.description, schema: inline(p.schema) };
  });
  const query = op.list && !op.onePage ? (op.query ? ListQuery.extend(op.query.shape) : ListQuery) : op.query;
  const queryParams = query ? Object.entries(query.shape).map(([name, schema]) => {
    const { description, ...json } = inline(schema as z.ZodType);
    return { name, in: 'query', required: false, ...(description ? { description } : {}), schema: json };
  }) : [];
  return [...pathParams, ...queryParams];
}

/** The OpenAPI 3.1 document of the admin API, built from the operations and their zod schemas. */
export function openApiDocument(publicUrl: string) {
  const requests = new Map<string, z.ZodType>();
  const requestNames = new Map<z.ZodType, string>();
  const responses = new Map<string, z.ZodType>([['Problem', ProblemSchema]]);
  const paths: Record<string, Record<string, unknown>> = {};
  const used = new Set<number>();

  for (const op of OPERATIONS) {
    const status = op.status ?? 200;
    let responseRef: string | undefined;
    if (op.response) {
      const item = nameOf(op.response, `${pascal(op.operationId)}Response`);
      responses.set(item, op.response);
      responseRef = item;
      if (op.list) {
        responseRef = `${item}List`;
        responses.set(responseRef, listAnswer(op.response));
      }
    }
    let requestRef: string | undefined;
    if (op.body) {
      // One schema, one component: a schema two operations take keeps its first name.
      requestRef = requestNames.get(op.body) ?? `${pascal(op.operationId)}Request`;
      requestNames.set(op.body, requestRef);
      requests.set(requestRef, op.body);
    }
    const errors = errorsOf(op);
    errors.forEach((s) => used.add(s));
    paths[op.path] ??= {};
    paths[op.path][op.method] = {
      operationId: op.operationId,
      tags: [op.tag],
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      parameters: parametersOf(op),
      ...(requestRef ? {
        requestBody: {
          required: op.bodyRequired ?? true,
          content: { 'application/json': { schema: ref(requestRef), ...(op.requestExample !== undefined ? { example: op.requestExample } : {}) } },
        },
      } : {}),
      responses: {
        [String(status)]: {
          description: status === 204 ? 'Done (no body)' : status === 201 ? 'Created' : 'Success',
          ...(responseRef ? { content: { 'application/json': { schema: ref(responseRef), ...(op.responseExample !== undefined ? { example: op.responseExample } : {}) } } } : {}),
        },
        ...Object.fromEntries(errors.map((s) => [String(s), { $ref: `#/components/responses/${PROBLEMS[s][0]}` }])),
      },
    };
  }

  const problemResponses = Object.fromEntries([...used].sort().map((s) => {
    const [name, description, example] = PROBLEMS[s];
    const retry = s === 429 || s === 503;
    return [name, {
      description,
      ...(retry ? { headers: { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } } } } : {}),
      content: {
        'application/problem+json': {
          schema: ref('Problem'),
          example: { type: `urn:gatehouse:problem:${example.code}`, title: TITLES[s], status: s, ...example, ...(s === 400 ? { errors: [{ field: 'slug', message: 'must match ^[a-z0-9][a-z0-9-]{1,62}$' }] } : {}) },
        },
      },
    }];
  }));

  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse admin API',
      version: '1',
      description: [
        'Manage tenants, clients, users, roles, groups, federation and keys of a Gatehouse instance.',
        '',
        `Authenticate with an access token from any tenant's token endpoint requested with \`resource=${publicUrl}/admin\` and no \`scope\`,`,
        'for a principal holding `system-admin` (system tenant: every tenant) or `tenant-admin` (its own tenant), through a client with `admin_access: true`.',
        'Errors are `application/problem+json` (RFC 9457). Lists take `?limit=&cursor=` and answer `{items, next_cursor}`.',
        `This document is served without a token at ${publicUrl}/admin/v1${DOCUMENT_PATH}.`,
      ].join('\n'),
      license: { name: 'Proprietary', identifier: 'LicenseRef-Gatehouse' },
    },
    // Relative to this document's own URL, so it holds behind any proxy: ${PUBLIC_URL}/admin/v1.
    servers: [{ url: '/admin/v1', description: `This instance (${publicUrl}/admin/v1)` }],
    security: [{ bearerAuth: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http', scheme: 'bearer', bearerFormat: 'JWT',
          description: `An RFC 9068 JWT access token from a tenant's token endpoint with resource=${publicUrl}/admin. `
            + 'A DPoP-bound token (RFC 9449, `cnf.jkt`) is sent as `Authorization: DPoP <token>` with a fresh `DPoP` proof for this method and URL, never as a bearer token.',
        },
      },
      schemas: { ...components(requests, 'input'), ...components(responses, 'output') },
      responses: problemResponses,
    },
  };
}
