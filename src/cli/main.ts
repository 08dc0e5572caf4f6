import { Console } from 'node:console';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { closeDeps, openDeps } from '../app.js';
import { verifyAuditChain } from '../audit/verify.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { dataDirHolder } from '../db/lock.js';
import { CLI_ACTOR, type Deps } from '../deps.js';
import { ClientExistsError, ClientMetadataRefusedError, registerClient, UnknownRoleError } from '../domain/clients/clients.service.js';
import { CLIENT_AUTH_METHODS } from '../domain/clients/clients.types.js';
import { listPublicKeys, rotateSigningKey } from '../domain/keys/keys.service.js';
import { SIGNING_ALGS, type SigningAlg } from '../domain/keys/keys.types.js';
import { findTenantBySlug } from '../domain/tenants/tenants.queries.js';
import { issuerOf } from '../domain/tenants/tenants.types.js';
import { createTenant, ensureSystemTenant, InvalidSlugError, TenantExistsError } from '../domain/tenants/tenants.service.js';
import { createUser, PasswordPolicyError, UserExistsError } from '../domain/users/users.service.js';
import { configureLogger } from '../log/logger.js';
import { TenantRegistry } from '../tenancy/registry.js';
import { clientValidator, InvalidClientMetadataError } from '../tenancy/validate-client.js';
import { presentClient, presentRotation, presentTenant, presentUser } from '../domain/present.js';
import { findAccessOfUser } from '../domain/users/user-access.queries.js';

class UsageError extends Error {}
class Refused extends Error {}

const USAGE = `usage:
  gatehouse migrate
  gatehouse tenant create SLUG [--name NAME] [--json]
  gatehouse client create --tenant SLUG --name NAME [--redirect-uri URI]... [--post-logout-redirect-uri URI]...
        [--grant-types a,b] [--auth-method client_secret_basic|client_secret_post|none|private_key_jwt] [--roles a,b]
        [--admin-access] [--json]
  gatehouse user create --tenant SLUG --email EMAIL [--password-stdin | --password PW] [--name N]
        [--given-name G] [--family-name F] [--email-verified] [--roles a,b] [--json]
  gatehouse keys rotate --tenant SLUG [--alg RS256|ES256|EdDSA]
  gatehouse audit verify [--tenant SLUG]`;

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

async function readStdin() {
  let data = '';
  for await (const chunk of process.stdin) data += chunk;
  return data.replace(/\r?\n$/, '');
}

async function tenantOf(deps: Deps, slug: unknown) {
  if (typeof slug !== 'string') throw new UsageError('--tenant is required');
  const tenant = await findTenantBySlug(deps.db, slug);
  if (!tenant) throw new Refused(`unknown tenant: ${slug}`);
  return tenant;
}

function out(json: boolean, object: unknown, line: string) {
  process.stdout.write(json ? `${JSON.stringify(object, null, 2)}\n` : `${line}\n`);
}

async function run(argv: string[]) {
  const [noun, verb, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: 'string' }, tenant: { type: 'string' }, json: { type: 'boolean' },
      'redirect-uri': { type: 'string', multiple: true }, 'post-logout-redirect-uri': { type: 'string', multiple: true },
      'grant-types': { type: 'string' }, 'auth-method': { type: 'string' }, roles: { type: 'string' },
      email: { type: 'string' }, password: { type: 'string' }, 'password-stdin': { type: 'boolean' },
      'given-name': { type: 'string' }, 'family-name': { type: 'string' }, 'email-verified': { type: 'boolean' },
      alg: { type: 'string' }, 'admin-access': { type: 'boolean' },
    },
  });
  const known = ['migrate', 'tenant create', 'client create', 'user create', 'keys rotate', 'audit verify'];
  const command = noun === 'migrate' ? 'migrate' : `${noun} ${verb}`;
  if (!known.includes(command)) throw new UsageError(noun ? `unknown command: ${command}` : 'no command given');
  if (noun === 'migrate' && verb) positionals.unshift(verb);
  if (command !== 'tenant create' && positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);

  const config = loadConfig();
  if (!config.databaseUrl) {
    const holder = dataDirHolder(config.dataDir);
    if (holder) throw new Refused(`the embedded database in ${config.dataDir} is held by a running server (pid ${holder}): stop the server, or set DATABASE_URL`);
  }
  const deps = await openDeps(config);
  try {
    await ensureSystemTenant(deps, CLI_ACTOR);
    const json = Boolean(values.json);
    switch (command) {
      case 'migrate':
        return out(json, { migrated: true }, 'Migrations are up to date.');
      case 'tenant create': {
        const slug = positionals[0];
        if (!slug || positionals.length > 1) throw new UsageError('tenant create takes one SLUG');
        const tenant = await createTenant(deps, { slug, name: values.name }, CLI_ACTOR);
        return out(json, presentTenant(tenant, config.publicUrl), `Created tenant ${tenant.slug}; issuer ${issuerOf(config.publicUrl, tenant.slug)}`);
      }
      case 'client create': {
        const tenant = await tenantOf(deps, values.tenant);
        if (!values.name) throw new UsageError('--name is required');
        const authMethod = values['auth-method'] ?? 'client_secret_basic';
        if (!(CLIENT_AUTH_METHODS as readonly string[]).includes(authMethod)) throw new Refused(`--auth-method must be one of ${CLIENT_AUTH_METHODS.join(', ')}`);
        const metadata: Record<string, unknown> = {
          client_name: values.name,
          redirect_uris: values['redirect-uri'] ?? [],
          post_logout_redirect_uris: values['post-logout-redirect-uri'] ?? [],
          token_endpoint_auth_method: authMethod,
          ...(values['grant-types'] ? { grant_types: list(values['grant-types']) } : {}),
          // DESIGN.md "Admin API": only such a client may obtain tokens for the admin API.
          ...(values['admin-access'] ? { admin_access: true } : {}),
        };
        const registry = new TenantRegistry(deps);
        const { client, secret, roles } = await registerClient(deps, tenant, { metadata, roles: list(values.roles) }, CLI_ACTOR, clientValidator(registry));
        const presented = presentClient(client, roles, secret);
        return out(json, presented, `client_id: ${client.clientId}${secret ? `\nclient_secret: ${secret}\n(the secret is shown only now)` : ''}`);
      }
      case 'user create': {
        const tenant = await tenantOf(deps, values.tenant);
        if (!values.email) throw new UsageError('--email is required');
        if (!z.email().max(320).safeParse(values.email).success) throw new Refused('--email must be an email address');
        if (values.password !== undefined && values['password-stdin']) throw new UsageError('use either --password or --password-stdin');
        const password = values['password-stdin'] ? await readStdin() : values.password;
        const user = await createUser(deps, tenant, {
          email: values.email, password, name: values.name, givenName: values['given-name'], familyName: values['family-name'],
          emailVerified: Boolean(values['email-verified']), roles: list(values.roles),
        }, CLI_ACTOR);
        return out(json, presentUser(user, await findAccessOfUser(deps.db, tenant.id, user.id)), `Created user ${user.email} (id ${user.id}) in tenant ${tenant.slug}`);
      }
      case 'keys rotate': {
        const tenant = await tenantOf(deps, values.tenant);
        if (values.alg && !SIGNING_ALGS.includes(values.alg as SigningAlg)) throw new Refused('--alg must be RS256, ES256 or EdDSA');
        const key = await rotateSigningKey(deps, tenant, values.alg as SigningAlg | undefined, CLI_ACTOR);
        const companion = key.rs256Kid ? ` and RS256 key ${key.rs256Kid} for ID Tokens (OpenID Connect requires RS256)` : '';
        return out(json, presentRotation(await listPublicKeys(deps, tenant.id), key), `New current key ${key.kid} (${key.alg})${companion}; the previous keys stay in JWKS until their tokens expire.`);
      }
      case 'audit verify': {
        const tenants = values.tenant ? [await tenantOf(deps, values.tenant)] : (await deps.db('tenants').select('id', 'slug')).map((t: any) => ({ id: t.id, slug: t.slug }));
        let broken = false;
        for (const t of tenants) {
          const report = await verifyAuditChain(deps.db, t.id);
          if (report.break) {
            broken = true;
            process.stdout.write(`${t.slug}: BROKEN at event ${report.break.id} (${report.break.reason}) after ${report.events} intact events\n`);
          } else {
            process.stdout.write(`${t.slug}: ok (${report.events} events)\n`);
          }
        }
        if (broken) throw new Refused('audit chain verification failed');
        return;
      }
    }
  } finally {
    await closeDeps(deps);
  }
}

// DESIGN.md "CLI": stdout carries only the command's output, so `gatehouse … --json | jq` works.
// Our logs and any library's console notices (oidc-provider prints some with console.info) go to stderr.
globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
configureLogger({ level: 'warn', stderr: true });

run(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) {
      process.stderr.write(`gatehouse: ${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    const refused = [Refused, ConfigError, TenantExistsError, InvalidSlugError, ClientExistsError, UnknownRoleError, UserExistsError, PasswordPolicyError, InvalidClientMetadataError, ClientMetadataRefusedError];
    if (refused.some((k) => err instanceof k)) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`gatehouse: unexpected error: ${err?.message ?? err}\n`);
    process.exit(1);
  },
);
