import { CLI_ACTOR } from '../../deps.js';
import { findClient, findClientsPage } from '../../domain/clients/clients.queries.js';
import { registerClient } from '../../domain/clients/clients.service.js';
import { CLIENT_AUTH_METHODS } from '../../domain/clients/clients.types.js';
import { page } from '../../domain/pagination.js';
import { presentClient } from '../../domain/present.js';
import { findClientRoleNames, findRoleNamesOfClients } from '../../domain/rbac/rbac.queries.js';
import { TenantRegistry } from '../../tenancy/registry.js';
import { clientValidator } from '../../tenancy/validate-client.js';
import { commaList, cursorKey, LIST_OPTIONS, listArgs, TENANT_OPTION, tenantOf } from '../arguments.js';
import { fields, table } from '../format.js';
import { Refused, UsageError, type CommandSpec } from '../table.js';

export const clientCommands: CommandSpec[] = [
  {
    name: 'client create',
    summary: 'Register a client (an application); prints client_id and, once only, client_secret.',
    options: {
      ...TENANT_OPTION,
      name: { type: 'string', value: 'NAME', required: true, help: 'client_name, shown on the login and consent pages' },
      'redirect-uri': { type: 'string', value: 'URI', multiple: true, help: 'a redirect URI (exact match); at least one unless --grant-types client_credentials' },
      'post-logout-redirect-uri': { type: 'string', value: 'URI', multiple: true, help: 'where RP-initiated logout may return to' },
      'grant-types': { type: 'string', value: 'a,b', help: 'grant_types (default authorization_code,refresh_token)' },
      'auth-method': { type: 'string', value: CLIENT_AUTH_METHODS.join('|'), help: 'token_endpoint_auth_method (default client_secret_basic; none = public client with PKCE)' },
      roles: { type: 'string', value: 'a,b', help: "the client's own roles (for client_credentials)" },
      'admin-access': { type: 'boolean', help: 'may obtain tokens for the admin API (admin_access: true)' },
    },
    examples: [
      'gatehouse client create --tenant acme --name "Demo app" --redirect-uri http://localhost:8080/callback',
      'gatehouse client create --tenant acme --name "Nightly job" --grant-types client_credentials --roles reporter --json',
    ],
    async run({ deps, values, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const authMethod = (values['auth-method'] as string | undefined) ?? 'client_secret_basic';
      if (!(CLIENT_AUTH_METHODS as readonly string[]).includes(authMethod)) throw new Refused(`--auth-method must be one of ${CLIENT_AUTH_METHODS.join(', ')}`);
      // Said in the CLI's words, not as the admin API's field (redirect_uris) would be.
      const grantTypes = commaList(values['grant-types']) ?? ['authorization_code'];
      const redirectUris = values['redirect-uri'];
      if (!(Array.isArray(redirectUris) && redirectUris.length) && grantTypes.includes('authorization_code')) {
        // Bad usage (exit 2), as any other missing required option.
        throw new UsageError('client create: --redirect-uri is required for a client that signs users in (authorization_code); a machine client takes --grant-types client_credentials', 'gatehouse help client create');
      }
      const metadata: Record<string, unknown> = {
        client_name: values.name,
        redirect_uris: values['redirect-uri'] ?? [],
        post_logout_redirect_uris: values['post-logout-redirect-uri'] ?? [],
        token_endpoint_auth_method: authMethod,
        ...(values['grant-types'] ? { grant_types: commaList(values['grant-types']) } : {}),
        // DESIGN.md "Admin API": only such a client may obtain tokens for the admin API.
        ...(values['admin-access'] ? { admin_access: true } : {}),
      };
      const { client, secret, roles } = await registerClient(deps, tenant, { metadata, roles: commaList(values.roles) }, CLI_ACTOR, clientValidator(new TenantRegistry(deps)));
      print(presentClient(client, roles, secret), `client_id: ${client.clientId}${secret ? `\nclient_secret: ${secret}\n(the secret is shown only now)` : ''}`);
    },
  },
  {
    name: 'client list',
    summary: "List a tenant's clients by client_id.",
    options: { ...TENANT_OPTION, ...LIST_OPTIONS },
    examples: ['gatehouse client list --tenant acme'],
    async run({ deps, values, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const { limit, cursor } = listArgs(values);
      const rows = await findClientsPage(deps.db, tenant.id, { afterClientId: cursorKey(cursor), limit: limit + 1 });
      const roles = await findRoleNamesOfClients(deps.db, tenant.id, rows.slice(0, limit).map((c) => c.clientId));
      const answer = page(rows, limit, (c) => c.clientId, (c) => presentClient(c, roles.get(c.clientId) ?? []));
      print(answer, table(answer.items, { CLIENT_ID: 'client_id', NAME: 'client_name', AUTH: 'token_endpoint_auth_method', GRANTS: 'grant_types', ROLES: 'roles' }, answer.next_cursor, `No clients in tenant ${tenant.slug}.`));
    },
  },
  {
    name: 'client show',
    args: 'CLIENT_ID',
    arity: 1,
    summary: "Show a client's metadata and roles (never its secret).",
    options: TENANT_OPTION,
    examples: ['gatehouse client show --tenant acme 3tW9vB0cQ2xYk1Lm'],
    async run({ deps, values, positionals, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const client = await findClient(deps.db, tenant.id, positionals[0]);
      if (!client) throw new Refused(`no client ${positionals[0]} in tenant ${tenant.slug}`);
      const presented = presentClient(client, await findClientRoleNames(deps.db, tenant.id, client.clientId));
      print(presented, fields(presented));
    },
  },
];
