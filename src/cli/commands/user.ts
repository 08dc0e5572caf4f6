import { z } from 'zod';
import { CLI_ACTOR } from '../../deps.js';
import { page } from '../../domain/pagination.js';
import { presentUser } from '../../domain/present.js';
import { findAccessOfUser, findUserAccess } from '../../domain/users/user-access.queries.js';
import { findUserById, findUserCredentialsByEmail, findUsersPage } from '../../domain/users/users.queries.js';
import { createUser } from '../../domain/users/users.service.js';
import { commaList, cursorKey, LIST_OPTIONS, listArgs, readStdin, TENANT_OPTION, tenantOf } from '../arguments.js';
import { fields, table } from '../format.js';
import { Refused, type CommandSpec } from '../table.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const userCommands: CommandSpec[] = [
  {
    name: 'user create',
    summary: "Create a user with a password (checked against the tenant's password policy).",
    options: {
      ...TENANT_OPTION,
      email: { type: 'string', value: 'EMAIL', required: true, help: 'the sign-in address' },
      'password-stdin': { type: 'boolean', help: 'read the password from stdin (keeps it out of the shell history)' },
      password: { type: 'string', value: 'PW', help: 'the password (visible to other local users; prefer --password-stdin)' },
      name: { type: 'string', value: 'N', help: 'full name' },
      'given-name': { type: 'string', value: 'G', help: 'given name' },
      'family-name': { type: 'string', value: 'F', help: 'family name' },
      'email-verified': { type: 'boolean', help: 'mark the address as verified' },
      roles: { type: 'string', value: 'a,b', help: "the user's roles" },
    },
    usageGroups: [['password-stdin', 'password']],
    examples: ["echo 'correct horse battery staple' | gatehouse user create --tenant acme --email alice@example.com --password-stdin --name \"Alice Example\" --email-verified"],
    async run({ deps, values, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const email = values.email as string;
      if (!z.email().max(320).safeParse(email).success) throw new Refused('--email must be an email address');
      const password = values['password-stdin'] ? await readStdin() : (values.password as string | undefined);
      const user = await createUser(deps, tenant, {
        email, password, name: values.name as string | undefined, givenName: values['given-name'] as string | undefined, familyName: values['family-name'] as string | undefined,
        emailVerified: Boolean(values['email-verified']), roles: commaList(values.roles),
      }, CLI_ACTOR);
      print(presentUser(user, await findAccessOfUser(deps.db, tenant.id, user.id)), `Created user ${user.email} (id ${user.id}) in tenant ${tenant.slug}`);
    },
  },
  {
    name: 'user list',
    summary: "List a tenant's users by email; --search keeps those whose email or name starts with PREFIX.",
    options: { ...TENANT_OPTION, search: { type: 'string', value: 'PREFIX', help: 'email or name prefix (case-insensitive)' }, ...LIST_OPTIONS },
    examples: ['gatehouse user list --tenant acme', 'gatehouse user list --tenant acme --search ali --json'],
    async run({ deps, values, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const { limit, cursor } = listArgs(values);
      const rows = await findUsersPage(deps.db, tenant.id, { search: values.search as string | undefined, afterEmail: cursorKey(cursor), limit: limit + 1 });
      const access = await findUserAccess(deps.db, tenant.id, rows.slice(0, limit).map((r) => r.user.id));
      const answer = page(rows, limit, (r) => r.key, (r) => presentUser(r.user, access.get(r.user.id)!));
      print(answer, table(answer.items, { ID: 'id', EMAIL: 'email', NAME: 'name', VERIFIED: 'email_verified', DISABLED: 'disabled' }, answer.next_cursor, `No users${values.search ? ` matching ${String(values.search)}` : ''} in tenant ${tenant.slug}.`));
    },
  },
  {
    name: 'user show',
    args: '(ID|EMAIL)',
    arity: 1,
    summary: 'Show a user, found by id or by email address (never a password hash).',
    options: TENANT_OPTION,
    examples: ['gatehouse user show --tenant acme alice@example.com'],
    async run({ deps, values, positionals, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const ref = positionals[0];
      const user = UUID.test(ref) ? await findUserById(deps.db, tenant.id, ref.toLowerCase()) : (await findUserCredentialsByEmail(deps.db, tenant.id, ref))?.user;
      if (!user) throw new Refused(`no user ${ref} in tenant ${tenant.slug}`);
      const presented = presentUser(user, await findAccessOfUser(deps.db, tenant.id, user.id));
      print(presented, fields(presented));
    },
  },
];
