import type { Knex } from 'knex';

// An audit event that waited in the kv store (src/audit/outbox.ts) carries the id it waited under
// in details.outbox_id: at most one event per id, so a drain that appended it and then failed to
// clear it (or whose claim ran out while PostgreSQL hung) cannot append it again. Partial: other
// events are not in the index.
export async function up(knex: Knex) {
  await knex.raw(`create unique index audit_events_outbox_id on audit_events (tenant_id, (details->>'outbox_id')) where details->>'outbox_id' is not null`);
}

export async function down(knex: Knex) {
  await knex.raw('drop index if exists audit_events_outbox_id');
}
