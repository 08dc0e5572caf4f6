import { isUniqueViolation } from './db/knex.js';
import { SYSTEM_ACTOR, type Deps } from './deps.js';
import { findClient } from './domain/clients/clients.queries.js';
import { ClientExistsError, registerClientWithSecret, setClientSecret } from './domain/clients/clients.service.js';
import { SYSTEM_ADMIN_ROLE, type Tenant } from './domain/tenants/tenants.types.js';
import { findUserCredentialsByEmail } from './domain/users/users.queries.js';
import { createUser, UserExistsError } from './domain/users/users.service.js';
import { log } from './log/logger.js';

/**
 * GATEHOUSE_BOOTSTRAP_ADMIN_*: the system tenant's admin client and admin user, if absent; the
 * client's secret follows the configured one when that changed. Nodes starting together may race
 * to create them; the one that finds them created carries on.
 */
export async function bootstrapAdmins(deps: Deps, system: Tenant) {
  const { clientId, clientSecret, email, password } = deps.config.bootstrap;
  const existing = clientId && clientSecret ? await findClient(deps.db, system.id, clientId) : undefined;
  if (clientId && clientSecret && existing) {
    // The environment holds the secret the operator means: a changed one replaces the stored one.
    const rotated = await setClientSecret(deps, system, clientId, clientSecret, SYSTEM_ACTOR, { reason: 'bootstrap_config' });
    if (rotated) log().warn('bootstrap.client_secret_rotated', { client_id: clientId, detail: 'GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET differs from the stored secret: the stored one was replaced' });
  } else if (clientId && clientSecret) {
    const created = await deps.db.transaction((trx) =>
      registerClientWithSecret(deps, trx, system, clientId, clientSecret,
        { client_name: 'Bootstrap admin', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', admin_access: true },
        [SYSTEM_ADMIN_ROLE], SYSTEM_ACTOR)).then(() => true, (err) => alreadyThere(err, ClientExistsError));
    if (created) log().info('bootstrap.client_created', { client_id: clientId });
  }
  if (email && password && !(await findUserCredentialsByEmail(deps.db, system.id, email))) {
    const created = await createUser(deps, system, { email, password, emailVerified: true, roles: [SYSTEM_ADMIN_ROLE] }, SYSTEM_ACTOR)
      .then(() => true, (err) => alreadyThere(err, UserExistsError));
    if (created) log().info('bootstrap.user_created', { email });
  }
}

/** False when another node created it meanwhile; any other error stops the start. */
function alreadyThere(err: unknown, existsError: new (...args: never[]) => Error): false {
  if (err instanceof existsError || isUniqueViolation(err)) return false;
  throw err;
}
