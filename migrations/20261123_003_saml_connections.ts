import type { Knex } from 'knex';

// SAML identity providers federated into a tenant (DESIGN.md "SAML federation").
// tenant_id leads every key, as everywhere (DESIGN.md "Tenants and URLs").
export async function up(knex: Knex) {
  await knex.schema.createTable('saml_connections', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('name').notNullable(); // path segment of ${issuer}/saml/${name}/…; fixed once created
    t.text('display_name').notNullable();
    t.text('idp_metadata_xml').notNullable();
    // What was read from the metadata, kept so logins need not parse XML again.
    t.text('idp_entity_id').notNullable();
    t.text('idp_sso_redirect_url');
    t.text('idp_sso_post_url');
    t.jsonb('idp_signing_certificates').notNullable(); // base64 DER, public
    t.jsonb('attribute_mapping').notNullable().defaultTo('{}');
    t.jsonb('group_role_mapping').notNullable().defaultTo('{}');
    t.boolean('allow_idp_initiated').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'name']);
  });

  // The key (tenant_id, domain) is what makes a domain route to one connection only.
  await knex.schema.createTable('saml_connection_domains', (t) => {
    t.uuid('tenant_id').notNullable();
    t.text('domain').notNullable();
    t.text('connection_name').notNullable();
    t.primary(['tenant_id', 'domain']);
    t.index(['tenant_id', 'connection_name']);
    t.foreign(['tenant_id', 'connection_name']).references(['tenant_id', 'name']).inTable('saml_connections').onDelete('CASCADE');
  });
}

export async function down(knex: Knex) {
  await knex.schema.dropTableIfExists('saml_connection_domains');
  await knex.schema.dropTableIfExists('saml_connections');
}
