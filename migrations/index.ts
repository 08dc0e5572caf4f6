import type { Knex } from 'knex';
import * as m001 from './20261123_001_foundation.js';
import * as m002 from './20261123_002_sessions_mfa.js';
import * as m003 from './20261123_003_saml_connections.js';
import * as m004 from './20261129_004_admin_access.js';
import * as m005 from './20261129_005_mail_tokens.js';
import * as m006 from './20261129_006_master_key_check.js';
import * as m007 from './20261130_007_federation.js';
import * as m008 from './20261130_008_derived_keys.js';
import * as m009 from './20261130_009_saml.js';
import * as m010 from './20261201_010_signing_key_keep_until.js';
import * as m011 from './20261202_011_audit_outbox.js';
import * as m012 from './20261202_012_partial_payload_indexes.js';

export const migrations: Record<string, Knex.Migration> = {
  '20261123_001_foundation': m001,
  '20261123_002_sessions_mfa': m002,
  '20261123_003_saml_connections': m003,
  '20261129_004_admin_access': m004,
  '20261129_005_mail_tokens': m005,
  '20261129_006_master_key_check': m006,
  '20261130_007_federation': m007,
  '20261130_008_derived_keys': m008,
  '20261130_009_saml': m009,
  '20261201_010_signing_key_keep_until': m010,
  '20261202_011_audit_outbox': m011,
  '20261202_012_partial_payload_indexes': m012,
};
