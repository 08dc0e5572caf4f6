import type { Knex } from 'knex';

/**
 * Mailed tokens (DESIGN.md "Self-service"): a link's token is kept only as a keyed hash, bound to
 * its tenant, purpose, user and the address it was mailed to; `used_at` makes it single use.
 */
export async function up(knex: Knex) {
  await knex.schema.createTable('mail_tokens', (t) => {
    t.uuid('tenant_id').notNullable();
    t.text('token_hash').notNullable();
    t.text('purpose').notNullable(); // verify_email | password_reset
    t.uuid('user_id').notNullable();
    t.text('email_normalized').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'token_hash']);
    t.index(['tenant_id', 'user_id', 'purpose']);
    t.index(['tenant_id', 'expires_at']);
    t.foreign(['tenant_id', 'user_id']).references(['tenant_id', 'id']).inTable('users').onDelete('CASCADE');
  });
}

export async function down(knex: Knex) {
  await knex.schema.dropTableIfExists('mail_tokens');
}
