import type { Middleware } from 'koa';
import { ZodError } from 'zod';
import { isForeignKeyViolation, isUniqueViolation } from '../db/knex.js';
import { isStorageUnavailable, unavailableDetails } from '../deps.js';
import { ClientExistsError, ClientMetadataRefusedError, UnknownClientError, UnknownRoleError } from '../domain/clients/clients.service.js';
import { InvalidSlugError, SystemTenantError, TenantExistsError } from '../domain/tenants/tenants.service.js';
import { OidcConnectionExistsError, OidcEmailDomainTakenError, UnknownOidcMappedRoleError } from '../domain/oidc-connections/oidc-connections.service.js';
import { EmailDomainTakenError, InvalidIdpMetadataError, SamlConnectionExistsError, UnknownMappedRoleError } from '../domain/saml-connections/saml-connections.service.js';
import { XmlValidatorUnavailableError } from '../domain/saml-connections/xml-schema.js';
import { PasswordPolicyError, UserExistsError } from '../domain/users/users.service.js';
import { log } from '../log/logger.js';
import { GroupExistsError, UnknownUserError } from '../domain/groups/groups.service.js';
import { BuiltinRoleError, ResourceExistsError, RoleExistsError, UnknownPermissionError } from '../domain/rbac/rbac.service.js';
import { InvalidClientMetadataError } from '../tenancy/validate-client.js';

export interface FieldError {
  field: string;
  message: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
  413: 'Content Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
};

/** An answer of the admin API that is not a success (RFC 9457 problem details). */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export function fieldErrors(err: ZodError): FieldError[] {
  return err.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : (i.code === 'unrecognized_keys' ? i.keys.join(',') : '(body)'), message: i.message }));
}

/** Known failures by class or code, never by message (STYLE.md "Errors"). */
function toProblem(err: unknown): Problem | undefined {
  if (err instanceof Problem) return err;
  if (err instanceof ZodError) return new Problem(400, 'invalid_request', 'The request has invalid fields.', fieldErrors(err));
  if (err instanceof TenantExistsError) return new Problem(409, 'tenant_exists', 'A tenant with this slug already exists.');
  if (err instanceof UnknownClientError) return new Problem(404, 'client_not_found', 'There is no client with this client_id in this tenant.');
  if (err instanceof ClientExistsError) return new Problem(409, 'client_exists', 'A client with this client_id already exists.');
  if (err instanceof UserExistsError) return new Problem(409, 'user_exists', 'A user with this email already exists.');
  if (err instanceof SystemTenantError) return new Problem(409, 'system_tenant', 'The system tenant cannot be deleted.');
  if (err instanceof InvalidSlugError) return new Problem(400, 'invalid_request', 'The request has invalid fields.', [{ field: 'slug', message: err.message }]);
  if (err instanceof PasswordPolicyError) return new Problem(400, 'password_policy', err.message, [{ field: 'password', message: err.message }]);
  if (err instanceof UnknownRoleError) return new Problem(400, 'unknown_role', err.message, [{ field: 'roles', message: err.message }]);
  if (err instanceof InvalidClientMetadataError) return new Problem(400, 'invalid_client_metadata', err.message, err.fields.length ? err.fields : undefined);
  if (err instanceof ClientMetadataRefusedError) return new Problem(400, 'invalid_client_metadata', err.message, [{ field: err.field, message: err.message }]);
  if (err instanceof ResourceExistsError) return new Problem(409, 'resource_exists', 'A resource with this identifier already exists.');
  if (err instanceof RoleExistsError) return new Problem(409, 'role_exists', 'A role with this name already exists.');
  if (err instanceof GroupExistsError) return new Problem(409, 'group_exists', 'A group with this name already exists.');
  if (err instanceof BuiltinRoleError) return new Problem(409, 'builtin_role', err.message);
  if (err instanceof UnknownPermissionError) return new Problem(400, 'unknown_permission', err.message, [{ field: 'permissions', message: err.message }]);
  if (err instanceof UnknownUserError) return new Problem(400, 'unknown_user', err.message, [{ field: 'user_ids', message: err.message }]);
  if (err instanceof SamlConnectionExistsError) return new Problem(409, 'saml_connection_exists', 'A SAML connection with this name already exists.');
  if (err instanceof EmailDomainTakenError) return new Problem(409, 'email_domain_taken', err.message, [{ field: 'email_domains', message: err.message }]);
  if (err instanceof InvalidIdpMetadataError) return new Problem(400, 'invalid_idp_metadata', err.message, [{ field: 'idp_metadata_xml', message: err.message }]);
  if (err instanceof OidcConnectionExistsError) return new Problem(409, 'oidc_connection_exists', 'An OIDC connection with this name already exists.');
  if (err instanceof OidcEmailDomainTakenError) return new Problem(409, 'email_domain_taken', err.message, [{ field: 'email_domains', message: err.message }]);
  if (err instanceof UnknownOidcMappedRoleError) return new Problem(400, 'unknown_role', err.message, [{ field: 'group_role_mapping', message: err.message }]);
  if (err instanceof UnknownMappedRoleError) return new Problem(400, 'unknown_role', err.message, [{ field: 'group_role_mapping', message: err.message }]);
  if (err instanceof XmlValidatorUnavailableError) return new Problem(503, 'temporarily_unavailable', 'The service cannot complete this request right now; retry shortly.', undefined, { 'Retry-After': '5' });
  if (isStorageUnavailable(err)) return new Problem(503, 'temporarily_unavailable', 'The service cannot complete this request right now; retry shortly.', undefined, { 'Retry-After': '5' });
  if (isUniqueViolation(err)) return new Problem(409, 'conflict', 'The change conflicts with an existing record.');
  if (isForeignKeyViolation(err)) return new Problem(409, 'conflict', 'A record this change refers to was removed meanwhile; try again.');
  // Body parser (raw-body / co-body) errors carry an HTTP status and a type.
  const e = err as { status?: number; type?: string };
  if (e?.status === 413) return new Problem(413, 'body_too_large', 'The request body is too large.');
  if (e?.status === 415) return new Problem(415, 'unsupported_media_type', 'Send the body as application/json.');
  if (e?.status === 400) return new Problem(400, 'malformed_json', 'The request body is not valid JSON.');
  return undefined;
}

/** Writes every error of the admin API as application/problem+json. */
export function problems(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      let problem = toProblem(err);
      if (problem?.status === 503) log().warn('admin.unavailable', { method: ctx.method, path: ctx.path, error: unavailableDetails(err) });
      if (!problem) {
        log().error('admin.failed', { error: { name: (err as Error)?.name, message: (err as Error)?.message, stack: (err as Error)?.stack }, method: ctx.method, path: ctx.path });
        problem = new Problem(500, 'server_error', 'An unexpected error occurred.');
      }
      for (const [k, v] of Object.entries(problem.headers)) ctx.set(k, v);
      ctx.status = problem.status;
      ctx.type = 'application/problem+json';
      ctx.body = {
        type: `urn:gatehouse:problem:${problem.code}`,
        title: TITLES[problem.status] ?? 'Error',
        status: problem.status,
        detail: problem.detail,
        code: problem.code,
        ...(problem.errors ? { errors: problem.errors } : {}),
        ...(problem.status >= 500 ? { request_id: ctx.state.requestId } : {}),
      };
    }
  };
}
