import { z } from 'zod';
import { PERMISSION_NAME, RESERVED_SCOPES, ROLE_NAME } from '../../domain/rbac/rbac.types.js';

const description = z.string().max(500).nullable().optional();

/** RFC 3986 characters only: no spaces, controls, quotes, backslashes or other unsafe ASCII. */
const URI_CHARS = /^[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=%]+$/;

/** RFC 8707 §2: an absolute URI without a fragment, stored exactly as tokens will carry it in `aud`. */
const identifier = z.string().max(2000).refine((v) => {
  try {
    const u = new URL(v);
    return !u.hash && !v.includes('#') && /^[a-z][a-z0-9+.-]*:/i.test(v) && URI_CHARS.test(v);
  } catch {
    return false;
  }
}, 'must be an absolute URI without a fragment');

const permissionName = z.string().regex(PERMISSION_NAME, 'must be a scope token (no spaces, quotes or backslashes)')
  .refine((n) => !RESERVED_SCOPES.has(n), 'is an OpenID Connect scope name');

const permissions = z.array(z.object({ name: permissionName, description }).strict()).max(200)
  .refine((ps) => new Set(ps.map((p) => p.name)).size === ps.length, 'permission names must be unique');

export const CreateResource = z.object({
  identifier,
  name: z.string().min(1).max(200),
  permissions: permissions.default([]),
}).strict();

export const PatchResource = z.object({ name: z.string().min(1).max(200).optional(), permissions: permissions.optional() }).strict();

export const roleName = z.string().regex(ROLE_NAME, 'must be 1-100 letters, digits or :._- and start with a letter or digit');
const rolePermissions = z.array(z.object({ resource: z.string().min(1).max(2000), permission: z.string().min(1).max(100) }).strict()).max(500);

export const CreateRole = z.object({ name: roleName, description, permissions: rolePermissions.default([]) }).strict();
export const PatchRole = z.object({ name: roleName.optional(), description, permissions: rolePermissions.optional() }).strict();
