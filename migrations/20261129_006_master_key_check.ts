import type { Knex } from 'knex';

/**
 * DESIGN.md "Configuration": a check value, sealed with the master key at the first start, so a
 * node started with another key refuses to start instead of failing every request that decrypts.
 * One row (id 1).
 */
export async function up(knex: Knex) {
  await knex.schema.createTable('master_key_check', (t) => {
    t.smallint('id').primary();
    t.text('sealed').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('alter table master_key_check add constraint master_key_check_one_row check (id = 1)');
}

export async function down(knex: Knex) {
  await knex.schema.dropTable('master_key_check');
}
