import { z } from 'zod';
import { RoleNames } from '../clients/clients.schema.js';

const name = z.string().max(200).nullable().optional();
const password = z.string().min(1).max(1024);

export const CreateUser = z.object({
  email: z.email().max(320),
  password: password.optional(),
  name,
  given_name: name,
  family_name: name,
  email_verified: z.boolean().optional(),
  roles: RoleNames.optional(),
}).strict();

export const PatchUser = z.object({
  email: z.email().max(320).optional(),
  name,
  given_name: name,
  family_name: name,
  email_verified: z.boolean().optional(),
  disabled: z.boolean().optional(),
}).strict();

export const UserList = z.object({ search: z.string().max(320).optional() });
export const UserRoles = z.object({ roles: RoleNames }).strict();
export const UserPassword = z.object({ password }).strict();
