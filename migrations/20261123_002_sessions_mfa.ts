import type { Knex } from 'knex';

/**
 * Session metadata the admin API lists (DESIGN.md: id, created_at, last_used_at, ip, user_agent),
 * and the MFA factors an admin can reset (DELETE …/users/{id}/mfa).
 */
export async function up(knex: Knex) {
  await knex.schema.alterTable('oidc_payloads', (t) => {
    t.text('ip');
    t.text('user_agent');
    t.timestamp('created_at', { useTz: true }).defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).defaultTo(knex.fn.now());
  });

  // One row per factor; secrets (TOTP seeds) are encrypted with the master key.
  await knex.schema.createTable('user_mfa_factors', (t) => {
    t.uuid('tenant_id').notNullable();
    t.uuid('user_id').notNullable();
    t.text('type').notNullable(); // totp
    t.text('secret_encrypted');
    t.timestamp('confirmed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'user_id', 'type']);
    t.foreign(['tenant_id', 'user_id']).references(['tenant_id', 'id']).inTable('users').onDelete('CASCADE');
  });

  // Recovery codes are kept only as hashes; each works once.
  await knex.schema.createTable('user_recovery_codes', (t) => {
    t.uuid('tenant_id').notNullable();
    t.uuid('user_id').notNullable();
    t.text('code_hash').notNullable();
    t.timestamp('used_at', { useTz: true });
    t.primary(['tenant_id', 'user_id', 'code_hash']);
    t.foreign(['tenant_id', 'user_id']).references(['tenant_id', 'id']).inTable('users').onDelete('CASCADE');
  });
}

export async function down(knex: Knex) {
  await knex.schema.dropTableIfExists('user_recovery_codes');
  await knex.schema.dropTableIfExists('user_mfa_factors');
  await knex.schema.alterTable('oidc_payloads', (t) => {
    t.dropColumns('ip', 'user_agent', 'created_at', 'updated_at');
  });
}
