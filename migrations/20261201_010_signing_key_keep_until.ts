import type { Knex } from 'knex';

// How long a signing key must stay in JWKS whatever the tenant's lifetimes are now: when they are
// shortened, tokens issued before still live by the old ones (domain/keys/keys.queries.ts
// holdKeysForIssuedTokens). Null: the current lifetimes decide alone.
export async function up(knex: Knex) {
  await knex.schema.alterTable('signing_keys', (t) => {
    t.timestamp('keep_until', { useTz: true });
  });
}

export async function down(knex: Knex) {
  await knex.schema.alterTable('signing_keys', (t) => {
    t.dropColumn('keep_until');
  });
}
