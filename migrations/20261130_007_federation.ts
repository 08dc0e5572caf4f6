import type { Knex } from 'knex';

/**
 * Federation (DESIGN.md "SAML federation", "OIDC federation"): who signed in through which
 * connection, and the upstream OpenID Providers a tenant federates. tenant_id leads every key.
 */
export async function up(knex: Knex) {
  // One row per upstream identity: (connection, NameID or `sub`) → one local user.
  await knex.schema.createTable('federated_identities', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('connection_kind').notNullable();
    t.text('connection_name').notNullable();
    t.text('subject').notNullable();
    t.uuid('user_id').notNullable();
    // Role ids this identity's group_role_mapping granted, so that a later login removes only
    // those and never a role an admin assigned by hand.
    t.jsonb('mapped_role_ids').notNullable().defaultTo('[]');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_login_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'connection_kind', 'connection_name', 'subject']);
    t.index(['tenant_id', 'user_id']);
    t.foreign(['tenant_id', 'user_id']).references(['tenant_id', 'id']).inTable('users').onDelete('CASCADE');
  });
  await knex.raw(`alter table federated_identities add constraint federated_identities_kind check (connection_kind in ('saml', 'oidc'))`);

  await knex.schema.createTable('oidc_connections', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('name').notNullable(); // path segment of ${issuer}/oidc/${name}/callback; fixed once created
    t.text('display_name').notNullable();
    t.text('issuer').notNullable();
    t.text('client_id').notNullable();
    t.text('client_secret').notNullable(); // sealed with the master key (security/secrets.ts)
    t.text('token_endpoint_auth_method').notNullable().defaultTo('client_secret_basic');
    t.jsonb('scopes').notNullable();
    t.jsonb('claim_mapping').notNullable().defaultTo('{}');
    t.jsonb('group_role_mapping').notNullable().defaultTo('{}');
    t.boolean('trust_email').notNullable().defaultTo(false);
    t.boolean('upstream_mfa_counts').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'name']);
  });

  await knex.schema.createTable('oidc_connection_domains', (t) => {
    t.uuid('tenant_id').notNullable();
    t.text('domain').notNullable();
    t.text('connection_name').notNullable();
    t.primary(['tenant_id', 'domain']);
    t.index(['tenant_id', 'connection_name']);
    t.foreign(['tenant_id', 'connection_name']).references(['tenant_id', 'name']).inTable('oidc_connections').onDelete('CASCADE');
  });

  // Whether the IdP's own MFA satisfies the tenant's MFA policy (false: Gatehouse asks its own factor).
  await knex.schema.alterTable('saml_connections', (t) => {
    t.boolean('upstream_mfa_counts').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex) {
  await knex.schema.alterTable('saml_connections', (t) => t.dropColumn('upstream_mfa_counts'));
  await knex.schema.dropTableIfExists('oidc_connection_domains');
  await knex.schema.dropTableIfExists('oidc_connections');
  await knex.schema.dropTableIfExists('federated_identities');
}
