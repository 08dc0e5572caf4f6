import type { Knex } from 'knex';

/**
 * DESIGN.md "Admin API": only clients with `admin_access: true` obtain admin-API tokens. Clients an
 * admin already gave an admin role (machine clients of tenant-admin or system-admin) keep working;
 * every other client (ordinary apps) loses the admin resource it should never have had.
 */
export async function up(knex: Knex) {
  await knex.raw(`
    update clients c set metadata = c.metadata || '{"admin_access": true}'::jsonb
     where exists (select 1 from client_roles cr join roles r on r.tenant_id = cr.tenant_id and r.id = cr.role_id
                    where cr.tenant_id = c.tenant_id and cr.client_id = c.client_id
                      and r.name in ('tenant-admin', 'system-admin'))`);
}

export async function down(knex: Knex) {
  await knex.raw(`update clients set metadata = metadata - 'admin_access'`);
}
