import type { Knex } from 'knex';

// Every tenant-scoped table leads its primary key and unique indexes with tenant_id
// so the schema can be distributed by tenant (DESIGN.md "Tenants and URLs").
export async function up(knex: Knex) {
  await knex.schema.createTable('tenants', (t) => {
    t.uuid('id').primary();
    t.text('slug').notNullable().unique();
    t.text('name').notNullable();
    t.jsonb('settings').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('signing_keys', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('kid').notNullable();
    t.text('alg').notNullable();
    t.text('status').notNullable(); // current | previous | retired
    t.jsonb('public_jwk').notNullable();
    t.text('private_jwk_encrypted').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('rotated_at', { useTz: true });
    t.primary(['tenant_id', 'kid']);
  });

  await knex.schema.createTable('clients', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('client_id').notNullable();
    t.jsonb('metadata').notNullable();
    t.text('secret_hash');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'client_id']);
  });

  await knex.schema.createTable('users', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.uuid('id').notNullable();
    t.text('email').notNullable();
    t.text('email_normalized').notNullable();
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.text('password_hash');
    t.text('name');
    t.text('given_name');
    t.text('family_name');
    t.boolean('disabled').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'email_normalized']);
  });

  await knex.schema.createTable('resources', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.uuid('id').notNullable();
    t.text('identifier').notNullable();
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'identifier']);
  });

  await knex.schema.createTable('permissions', (t) => {
    t.uuid('tenant_id').notNullable();
    t.uuid('resource_id').notNullable();
    t.text('name').notNullable();
    t.text('description');
    t.primary(['tenant_id', 'resource_id', 'name']);
    t.foreign(['tenant_id', 'resource_id']).references(['tenant_id', 'id']).inTable('resources').onDelete('CASCADE');
  });

  await knex.schema.createTable('roles', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.uuid('id').notNullable();
    t.text('name').notNullable();
    t.text('description');
    t.boolean('builtin').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'name']);
  });

  await knex.schema.createTable('role_permissions', (t) => {
    t.uuid('tenant_id').notNullable();
    t.uuid('role_id').notNullable();
    t.uuid('resource_id').notNullable();
    t.text('permission').notNullable();
    t.primary(['tenant_id', 'role_id', 'resource_id', 'permission']);
    t.foreign(['tenant_id', 'role_id']).references(['tenant_id', 'id']).inTable('roles').onDelete('CASCADE');
    t.foreign(['tenant_id', 'resource_id', 'permission']).references(['tenant_id', 'resource_id', 'name']).inTable('permissions').onDelete('CASCADE');
  });

  await knex.schema.createTable('user_roles', (t) => {
    t.uuid('tenant_id').notNullable();
    t.uuid('user_id').notNullable();
    t.uuid('role_id').notNullable();
    t.primary(['tenant_id', 'user_id', 'role_id']);
    t.foreign(['tenant_id', 'user_id']).references(['tenant_id', 'id']).inTable('users').onDelete('CASCADE');
    t.foreign(['tenant_id', 'role_id']).references(['tenant_id', 'id']).inTable('roles').onDelete('CASCADE');
  });

  await knex.schema.createTable('client_roles', (t) => {
    t.uuid('tenant_id').notNullable();
    t.text('client_id').notNullable();
    t.uuid('role_id').notNullable();
    t.primary(['tenant_id', 'client_id', 'role_id']);
    t.foreign(['tenant_id', 'client_id']).references(['tenant_id', 'client_id']).inTable('clients').onDelete('CASCADE');
    t.foreign(['tenant_id', 'role_id']).references(['tenant_id', 'id']).inTable('roles').onDelete('CASCADE');
  });

  await knex.schema.createTable('groups', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.uuid('id').notNullable();
    t.text('name').notNullable();
    t.text('description');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'name']);
  });

  await knex.schema.createTable('group_members', (t) => {
    t.uuid('tenant_id').notNullable();
    t.uuid('group_id').notNullable();
    t.uuid('user_id').notNullable();
    t.primary(['tenant_id', 'group_id', 'user_id']);
    t.foreign(['tenant_id', 'group_id']).references(['tenant_id', 'id']).inTable('groups').onDelete('CASCADE');
    t.foreign(['tenant_id', 'user_id']).references(['tenant_id', 'id']).inTable('users').onDelete('CASCADE');
  });

  await knex.schema.createTable('group_roles', (t) => {
    t.uuid('tenant_id').notNullable();
    t.uuid('group_id').notNullable();
    t.uuid('role_id').notNullable();
    t.primary(['tenant_id', 'group_id', 'role_id']);
    t.foreign(['tenant_id', 'group_id']).references(['tenant_id', 'id']).inTable('groups').onDelete('CASCADE');
    t.foreign(['tenant_id', 'role_id']).references(['tenant_id', 'id']).inTable('roles').onDelete('CASCADE');
  });

  // oidc-provider artifacts that must survive a restart (sessions, grants, tokens).
  await knex.schema.createTable('oidc_payloads', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('model').notNullable();
    t.text('id').notNullable();
    t.jsonb('payload').notNullable();
    t.text('grant_id');
    t.text('user_code');
    t.text('uid');
    t.text('account_id');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.primary(['tenant_id', 'model', 'id']);
    t.index(['tenant_id', 'grant_id']);
    t.index(['tenant_id', 'model', 'uid']);
    t.index(['tenant_id', 'model', 'user_code']);
    t.index(['tenant_id', 'account_id']);
    t.index(['expires_at']);
  });

  // Append-only; each row's hash covers the row and the previous hash of its tenant.
  await knex.schema.createTable('audit_events', (t) => {
    t.uuid('tenant_id').notNullable();
    t.bigInteger('id').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('type').notNullable();
    t.text('actor');
    t.text('subject');
    t.text('ip');
    t.text('user_agent');
    t.text('outcome').notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.text('prev_hash').notNullable();
    t.text('hash').notNullable();
    t.primary(['tenant_id', 'id']);
    t.index(['tenant_id', 'type', 'id']);
  });
  // The chain head per tenant; row-locked while appending so the chain stays linear.
  await knex.schema.createTable('audit_heads', (t) => {
    t.uuid('tenant_id').primary();
    t.bigInteger('last_id').notNullable();
    t.text('last_hash').notNullable();
  });
}

export async function down(knex: Knex) {
  for (const table of ['audit_heads', 'audit_events', 'oidc_payloads', 'group_roles', 'group_members', 'groups', 'client_roles',
    'user_roles', 'role_permissions', 'roles', 'permissions', 'resources', 'users', 'clients', 'signing_keys', 'tenants']) {
    await knex.schema.dropTableIfExists(table);
  }
}
