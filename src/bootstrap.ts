import { SYSTEM_ACTOR, type Deps } from './deps.js';
import { findClient } from './domain/clients/clients.queries.js';
import { registerClientWithSecret } from './domain/clients/clients.service.js';
import { findTenantBySlug } from './domain/tenants/tenants.queries.js';
import { SYSTEM_ADMIN_ROLE, SYSTEM_TENANT } from './domain/tenants/tenants.types.js';
import { findUserCredentialsByEmail } from './domain/users/users.queries.js';
import { createUser } from './domain/users/users.service.js';
import { log } from './log/logger.js';


/** GATEHOUSE_BOOTSTRAP_ADMIN_*: the system tenant's admin client and admin user, if absent. */
export async function bootstrapAdmins(deps: Deps) {
  const system = (await findTenantBySlug(deps.db, SYSTEM_TENANT))!;
  const { clientId, clientSecret, email, password } = deps.config.bootstrap;
  if (clientId && clientSecret && !(await findClient(deps.db, system.id, clientId))) {
    await deps.db.transaction((trx) =>
      registerClientWithSecret(deps, trx, system, clientId, clientSecret,
        { client_name: 'Bootstrap admin', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' },
        [SYSTEM_ADMIN_ROLE], SYSTEM_ACTOR));
    log().info('bootstrap.client_created', { client_id: clientId });
  }
  if (email && password && !(await findUserCredentialsByEmail(deps.db, system.id, email))) {
    await createUser(deps, system, { email, password, emailVerified: true, roles: [SYSTEM_ADMIN_ROLE] }, SYSTEM_ACTOR);
    log().info('bootstrap.user_created', { email });
  }
}
