import { CLI_ACTOR } from '../../deps.js';
import { page } from '../../domain/pagination.js';
import { presentTenant } from '../../domain/present.js';
import { findTenantsPage } from '../../domain/tenants/tenants.queries.js';
import { issuerOf } from '../../domain/tenants/tenants.types.js';
import { createTenant } from '../../domain/tenants/tenants.service.js';
import { cursorKey, LIST_OPTIONS, listArgs, tenantOf } from '../arguments.js';
import { fields, table } from '../format.js';
import type { CommandSpec } from '../table.js';

export const tenantCommands: CommandSpec[] = [
  {
    name: 'tenant create',
    args: 'SLUG',
    arity: 1,
    summary: 'Create a tenant: its issuer is PUBLIC_URL/t/SLUG (slug: a-z, 0-9 and -, 2-63 characters).',
    options: { name: { type: 'string', value: 'NAME', help: 'display name shown on its pages (default: the slug)' } },
    examples: ['gatehouse tenant create acme --name "Acme Inc"'],
    async run({ deps, config, positionals, values, print }) {
      const tenant = await createTenant(deps, { slug: positionals[0], name: values.name as string | undefined }, CLI_ACTOR);
      print(presentTenant(tenant, config.publicUrl), `Created tenant ${tenant.slug}; issuer ${issuerOf(config.publicUrl, tenant.slug)}`);
    },
  },
  {
    name: 'tenant list',
    summary: 'List tenants by slug, with their issuers.',
    options: LIST_OPTIONS,
    examples: ['gatehouse tenant list', 'gatehouse tenant list --json --limit 10'],
    async run({ deps, config, values, print }) {
      const { limit, cursor } = listArgs(values);
      const rows = await findTenantsPage(deps.db, { afterSlug: cursorKey(cursor), limit: limit + 1 });
      const answer = page(rows, limit, (t) => t.slug, (t) => presentTenant(t, config.publicUrl));
      print(answer, table(answer.items, { SLUG: 'slug', NAME: 'name', ISSUER: 'issuer', CREATED: 'created_at' }, answer.next_cursor, 'No tenants.'));
    },
  },
  {
    name: 'tenant show',
    args: 'SLUG',
    arity: 1,
    summary: "Show a tenant and all of its settings (lifetimes in seconds).",
    options: {},
    examples: ['gatehouse tenant show acme', 'gatehouse tenant show acme --json | jq .lockout'],
    async run({ deps, config, positionals, print }) {
      const presented = presentTenant(await tenantOf(deps, positionals[0]), config.publicUrl);
      print(presented, fields(presented));
    },
  },
];
