import type { Knex } from 'knex';

/**
 * Keys that hash or sign what cannot be re-keyed (client secrets, one-time codes, cookies),
 * carried over a master key rotation sealed under the new master key (domain/keys/derived-keys.ts).
 * Empty until the first rotation: until then each is derived from the master key.
 */
export async function up(knex: Knex) {
  await knex.schema.createTable('master_key_derived_keys', (t) => {
    t.text('purpose').primary();
    t.text('sealed').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex) {
  await knex.schema.dropTable('master_key_derived_keys');
}
