import type { Knex } from 'knex';

// Gatehouse's own key pair per SAML connection (DESIGN.md "SAML federation"): it signs the
// AuthnRequests, and its certificate is published in the SP metadata. Created on first use (a
// migration has no master key to seal it with); the private key only ever sealed.
export async function up(knex: Knex) {
  await knex.schema.alterTable('saml_connections', (t) => {
    t.text('sp_signing_key_sealed'); // PKCS#8 PEM, sealed with the master key (aad saml-sp-key:<tenant>:<name>)
    t.text('sp_signing_certificate'); // base64 DER, public
  });
}

export async function down(knex: Knex) {
  await knex.schema.alterTable('saml_connections', (t) => {
    t.dropColumn('sp_signing_key_sealed');
    t.dropColumn('sp_signing_certificate');
  });
}
