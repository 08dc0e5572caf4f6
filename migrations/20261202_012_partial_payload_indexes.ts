import type { Knex } from 'knex';

// oidc_payloads' indexes on its nullable columns (uid, user_code, grant_id, account_id) cover only
// the rows that have one: a user_code only device codes, a uid chiefly sessions, a grant_id only
// tokens and codes, an account_id only what a signed-in user holds. Whole, they began with the tenant
// (uid and user_code with the model too), as the primary key does, and on a new database's
// statistics (the table analyzed empty, or holding a few rows of each kind) the planner took a
// lookup by primary key through the user_code or account_id index and walked every session of the
// tenant to find one (src/db/statistics.ts). A partial index cannot serve a query that does not
// ask for its column, so those plans no longer exist whatever the statistics say; and the rows
// without the column are no longer inserted into its index. Every query on these columns asks for
// equality (or `in`), which implies `is not null`, so each still has its index.
//
// In the migration batch's transaction, like the others, not CONCURRENTLY: outside a transaction
// knex takes its migration lock without one, and a second node starting meanwhile fails instead
// of waiting. The builds hold writes to oidc_payloads (seconds, for a table of sessions and tokens
// that expire); the drops, last, hold reads too, from then until the batch commits.

const PARTIAL = [
  { name: 'oidc_payloads_uid', columns: ['tenant_id', 'model', 'uid'] },
  { name: 'oidc_payloads_user_code', columns: ['tenant_id', 'model', 'user_code'] },
  { name: 'oidc_payloads_grant_id', columns: ['tenant_id', 'grant_id'] },
  { name: 'oidc_payloads_account_id', columns: ['tenant_id', 'account_id'] },
].map((index) => ({
  ...index,
  column: index.columns.at(-1)!,
  /** knex's name for the whole index of the foundation migration. */
  replaces: `oidc_payloads_${index.columns.join('_')}_index`,
  list: index.columns.map(() => '??').join(', '),
}));

export async function up(knex: Knex) {
  for (const { name, columns, column, list } of PARTIAL) {
    await knex.raw(`create index if not exists ?? on oidc_payloads (${list}) where ?? is not null`, [name, ...columns, column]);
  }
  for (const { replaces } of PARTIAL) await knex.raw('drop index if exists ??', [replaces]);
}

export async function down(knex: Knex) {
  for (const { columns, replaces, list } of PARTIAL) {
    await knex.raw(`create index if not exists ?? on oidc_payloads (${list})`, [replaces, ...columns]);
  }
  for (const { name } of PARTIAL) await knex.raw('drop index if exists ??', [name]);
}
