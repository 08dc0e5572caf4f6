import { parseArgs } from 'node:util';
import { closeDeps, openDeps } from '../app.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { dataDirHolder } from '../db/lock.js';
import { CLI_ACTOR } from '../deps.js';
import { MasterKeyRotationRefused, rotateMasterKey } from '../domain/keys/master-key-rotation.js';
import { Secrets } from '../security/secrets.js';

/**
 * `gatehouse master-key rotate [--new-cookie-key] [--json]`: re-encrypts every sealed secret from
 * GATEHOUSE_MASTER_KEY_PREVIOUS to GATEHOUSE_MASTER_KEY (domain/keys/master-key-rotation.ts).
 * A one-line summary on stderr; with --json the summary on stdout. A refusal is a ConfigError:
 * one line, exit 1, nothing changed.
 */
export async function masterKeyRotateCommand(args: string[]) {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, 'new-cookie-key': { type: 'boolean' } } });
  if (positionals.length) throw new ConfigError(`master-key rotate: unexpected argument: ${positionals[0]}`);
  const config = loadConfig();
  if (!config.masterKey) throw new ConfigError('GATEHOUSE_MASTER_KEY must be set to the new master key (openssl rand -base64 32)');
  if (!config.masterKeyPrevious) throw new ConfigError('GATEHOUSE_MASTER_KEY_PREVIOUS must be set to the master key the database is encrypted with now');
  if (config.masterKeyPrevious === config.masterKey) throw new ConfigError('GATEHOUSE_MASTER_KEY_PREVIOUS is the same key as GATEHOUSE_MASTER_KEY: set GATEHOUSE_MASTER_KEY to a new key');
  if (!config.databaseUrl) {
    const holder = dataDirHolder(config.dataDir);
    if (holder) throw new ConfigError(`the embedded database in ${config.dataDir} is held by a running server (pid ${holder}): stop the server, or set DATABASE_URL`);
  }
  const deps = await openDeps(config, { masterKeyCheck: false });
  try {
    // Only the tests set this (with NODE_ENV=test, never in an operator's environment), to
    // interrupt a run after N tenants and prove a re-run completes it.
    const failAfter = process.env.NODE_ENV === 'test' ? process.env.GATEHOUSE_TEST_MASTER_KEY_ROTATE_FAIL_AFTER : undefined;
    const summary = await rotateMasterKey(deps.db, {
      next: deps.secrets,
      previous: new Secrets(Buffer.from(config.masterKeyPrevious, 'base64')),
    }, CLI_ACTOR, { failAfterTenants: failAfter ? Number(failAfter) : undefined, newCookieKey: values['new-cookie-key'] === true });
    const signedOut = summary.new_cookie_key ? '; the cookie key is new: every user signs in again once the nodes (re)start' : '';
    process.stderr.write(`master-key rotate: ${summary.reencrypted} secrets re-encrypted in ${summary.tenants_changed} of ${summary.tenants} tenants (${summary.already_rotated} already under the new key)${signedOut}; start every node with only the key in GATEHOUSE_MASTER_KEY\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } catch (err) {
    if (err instanceof MasterKeyRotationRefused) throw new ConfigError(err.message);
    throw err;
  } finally {
    await closeDeps(deps);
  }
}
