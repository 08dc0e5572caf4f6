import { z } from 'zod';
import { RoleNames } from '../clients/clients.schema.js';

const name = z.string().min(1).max(200);
const description = z.string().max(500).nullable().optional();

export const CreateGroup = z.object({ name, description }).strict();
export const PatchGroup = z.object({ name: name.optional(), description }).strict();
export const GroupMembers = z.object({ user_ids: z.array(z.uuid()).max(1000) }).strict();
export const GroupRoles = z.object({ roles: RoleNames }).strict();
