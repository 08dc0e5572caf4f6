import { finishFederatedLogin } from '../finish.js';
import type { OnVerified } from './acs.js';

/**
 * A verified SAML identity goes on to the shared completion: linked by (connection, NameID),
 * provisioned just in time, `group_role_mapping` re-evaluated, the tenant's MFA policy applied.
 * The connection handed on is the one the response was checked against: of this tenant only.
 */
export const finishSamlLogin: OnVerified = (ctx, deps, tenant, { connection, identity, interactionUid }) =>
  finishFederatedLogin(ctx, deps, tenant, {
    interactionUid,
    connection: {
      tenantId: connection.tenantId, kind: 'saml', name: connection.name,
      upstreamMfaCounts: connection.upstreamMfaCounts, groupRoleMapping: connection.groupRoleMapping,
    },
    identity,
  });
