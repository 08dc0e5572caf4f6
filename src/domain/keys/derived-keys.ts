import type { Db } from '../../db/knex.js';
import type { Deps } from '../../deps.js';
import { DERIVED_KEY_PURPOSES, type DerivedKeyPurpose, type Secrets } from '../../security/secrets.js';
import { MasterKeyMismatchError } from './master-key-check.js';

export const derivedKeyAad = (purpose: DerivedKeyPurpose) => `gatehouse/derived-key:${purpose}`;

export async function findDerivedKeys(db: Db): Promise<{ purpose: DerivedKeyPurpose; sealed: string }[]> {
  const rows = await db('master_key_derived_keys').select('purpose', 'sealed');
  return rows.filter((r: { purpose: string }) => (DERIVED_KEY_PURPOSES as readonly string[]).includes(r.purpose));
}

/**
 * Adopts the keys a master key rotation carried over (security/secrets.ts DERIVED_KEY_PURPOSES),
 * so client secret hashes, recovery codes, mailed links and cookies made before it keep working.
 * Run at every start after the master key check (app.ts openDeps), by the server and the CLI.
 */
export async function adoptDerivedKeys(deps: Pick<Deps, 'db' | 'secrets'>) {
  await adoptInto(deps.secrets, await findDerivedKeys(deps.db));
}

export async function adoptInto(secrets: Secrets, rows: { purpose: DerivedKeyPurpose; sealed: string }[]) {
  for (const { purpose, sealed } of rows) {
    let key: Buffer;
    try {
      key = Buffer.from(secrets.decrypt(sealed, derivedKeyAad(purpose)), 'base64');
    } catch {
      throw new MasterKeyMismatchError(`GATEHOUSE_MASTER_KEY: this key does not decrypt the data in this database (the carried-over ${purpose} key does not decrypt); start with the key the database was set up with`);
    }
    secrets.adoptDerivedKey(purpose, key);
  }
}
