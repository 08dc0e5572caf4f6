import { verifyAuditChain } from '../../audit/verify.js';
import { CLI_ACTOR } from '../../deps.js';
import { listPublicKeys, rotateSigningKey } from '../../domain/keys/keys.service.js';
import { SIGNING_ALGS, type SigningAlg } from '../../domain/keys/keys.types.js';
import { presentKey, presentRotation } from '../../domain/present.js';
import { table } from '../format.js';
import { TENANT_OPTION, tenantOf } from '../arguments.js';
import { masterKeyRotateCommand } from '../master-key.js';
import { Refused, type CommandSpec } from '../table.js';

export const operationCommands: CommandSpec[] = [
  {
    name: 'migrate',
    summary: 'Bring the database schema up to date (the server also does it at start).',
    options: {},
    examples: ['DATABASE_URL=postgres://gatehouse@db/gatehouse gatehouse migrate'],
    async run({ deps, print }) {
      // openDeps has run them already; this reports where the schema stands.
      const rows: { name: string }[] = await deps.db('knex_migrations').select('name').orderBy('id');
      const latest = rows.at(-1)?.name ?? null;
      print({ migrated: true, migrations: rows.length, latest }, `Migrations are up to date (${rows.length} applied; latest ${latest}).`);
    },
  },
  {
    name: 'keys list',
    summary: "List the tenant's signing keys: current (signs), next (published ahead of the next rotation), previous (published until what it signed has expired).",
    options: { ...TENANT_OPTION },
    examples: ['gatehouse keys list --tenant acme', 'gatehouse keys list --tenant acme --json'],
    async run({ deps, values, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const answer = { items: (await listPublicKeys(deps, tenant.id)).map(presentKey), next_cursor: null };
      print(answer, table(answer.items, { KID: 'kid', ALG: 'alg', STATUS: 'status', CREATED: 'created_at', ROTATED: 'rotated_at' }, null, 'No signing keys.'));
    },
  },
  {
    name: 'keys rotate',
    summary: "Make the tenant's next signing key current (published since the last rotation) and publish a new next key; the previous keys stay in JWKS until their tokens expire.",
    options: { ...TENANT_OPTION, alg: { type: 'string', value: SIGNING_ALGS.join('|'), help: "algorithm of the key (default: the tenant's current one)" } },
    examples: ['gatehouse keys rotate --tenant acme', 'gatehouse keys rotate --tenant acme --alg ES256 --json'],
    async run({ deps, values, print }) {
      const tenant = await tenantOf(deps, values.tenant);
      const alg = values.alg as string | undefined;
      if (alg && !SIGNING_ALGS.includes(alg as SigningAlg)) throw new Refused(`--alg must be ${SIGNING_ALGS.slice(0, -1).join(', ')} or ${SIGNING_ALGS.at(-1)}`);
      const key = await rotateSigningKey(deps, tenant, alg as SigningAlg | undefined, CLI_ACTOR);
      const companion = key.rs256Kid ? ` and RS256 key ${key.rs256Kid} for ID Tokens (OpenID Connect requires RS256)` : '';
      print(presentRotation(await listPublicKeys(deps, tenant.id), key), `New current key ${key.kid} (${key.alg})${companion}; a new next key is published for the next rotation, and the previous keys stay in JWKS until their tokens expire.`);
    },
  },
  {
    name: 'audit verify',
    summary: "Recompute each tenant's audit hash chain; exit 1 when a row was edited or removed.",
    options: { tenant: { ...TENANT_OPTION.tenant, required: false, help: 'only this tenant (default: every tenant)' } },
    examples: ['gatehouse audit verify', 'gatehouse audit verify --tenant acme --json'],
    async run({ deps, values, json }) {
      const tenants = values.tenant ? [await tenantOf(deps, values.tenant)] : await deps.db('tenants').select('id', 'slug').orderBy('slug');
      const results = [];
      for (const t of tenants) {
        const report = await verifyAuditChain(deps.db, t.id);
        results.push({ tenant: t.slug as string, ok: !report.break, events: report.events, ...(report.break ? { break: { id: report.break.id, reason: report.break.reason } } : {}) });
      }
      const ok = results.every((r) => r.ok);
      if (json) process.stdout.write(`${JSON.stringify({ ok, tenants: results }, null, 2)}\n`);
      else for (const r of results) process.stdout.write(r.break ? `${r.tenant}: BROKEN at event ${r.break.id} (${r.break.reason}) after ${r.events} intact events\n` : `${r.tenant}: ok (${r.events} events)\n`);
      if (!ok) throw new Refused('audit chain verification failed');
    },
  },
  {
    name: 'master-key rotate',
    summary: 'Re-encrypt every secret from GATEHOUSE_MASTER_KEY_PREVIOUS to GATEHOUSE_MASTER_KEY.',
    options: {
      'new-cookie-key': { type: 'boolean', help: 'replace the key that signs browser cookies with a random one instead of carrying it over: every user signs in again (after a leak of the old master key)' },
      json: { type: 'boolean', help: 'print the summary (counts by column, new_cookie_key) as JSON on stdout' },
    },
    // Keys come from files or a secret manager, never typed: a shell's history would keep them.
    examples: [
      'export GATEHOUSE_MASTER_KEY_PREVIOUS="$(cat "${GATEHOUSE_DATA_DIR:-./data}/master.key")" GATEHOUSE_MASTER_KEY="$(cat new-master.key)"    # development',
      'gatehouse master-key rotate',
      'gatehouse master-key rotate --new-cookie-key --json    # after a leak of the old key',
      '(docs/keys-and-secrets.md "Rotating the master key": store the new key first, stop the nodes)',
    ],
    standalone: masterKeyRotateCommand,
  },
];
