export interface Permission {
  name: string;
  description?: string | null;
}

export interface ApiResource {
  id: string;
  identifier: string;
  name: string;
  permissions: Permission[];
  createdAt: Date;
}

/** A permission a role grants, named by its resource's identifier. */
export interface RolePermission {
  resource: string;
  permission: string;
}

export interface RoleRecord {
  id: string;
  name: string;
  description: string | null;
  builtin: boolean;
  permissions: RolePermission[];
  createdAt: Date;
}

/**
 * Role names travel in the `roles` claim and in admin paths: printable, no spaces.
 * Permission names are scope tokens (RFC 6749 §3.3: no space, quote or backslash).
 */
export const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,99}$/;
export const PERMISSION_NAME = /^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/;
/** Scopes the provider itself defines; a permission of that name would be ambiguous in `scope`. */
export const RESERVED_SCOPES = new Set(['openid', 'profile', 'email', 'roles', 'offline_access', 'address', 'phone']);
