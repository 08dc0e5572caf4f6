import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../db/data-dir.js';
import { MasterKeyNotCurrentError } from '../deps.js';

/**
 * The keys for what is stored hashed or signed rather than sealed. They cannot be re-keyed by a
 * master key rotation (the client secrets and one-time codes they hash are not kept), so a
 * rotation stores the old ones sealed under the new master key (domain/keys/derived-keys.ts) and
 * every later start adopts them: hashes keep verifying and browser cookies stay valid.
 */
export const DERIVED_KEY_PURPOSES = ['client-secret', 'one-time-codes', 'cookies'] as const;
export type DerivedKeyPurpose = (typeof DERIVED_KEY_PURPOSES)[number];

function sealWith(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

/** The parts of a sealed value; a malformed one throws a plain Error (no key opens it). */
function partsOf(sealed: string) {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('unsupported ciphertext');
  return { iv, tag, body };
}

function openWith(key: Buffer, { iv, tag, body }: ReturnType<typeof partsOf>, aad: string): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}

/** Holds the master key and the keys derived from it; nothing here is ever logged. */
export class Secrets {
  readonly #master: Buffer;
  /** Always from this master key: sealed values are re-encrypted at a rotation. */
  readonly #encKey: Buffer;
  /** KeyObjects, not Buffers: an HMAC keyed with a Buffer costs several times more (Node 24). */
  readonly #derived: Record<DerivedKeyPurpose, KeyObject>;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error('master key must be 32 bytes');
    this.#master = masterKey;
    this.#encKey = derive(masterKey, 'gatehouse/encryption/v1');
    this.#derived = {
      'client-secret': createSecretKey(derive(masterKey, 'gatehouse/client-secret/v1')),
      cookies: createSecretKey(derive(masterKey, 'gatehouse/cookies/v1')),
      'one-time-codes': createSecretKey(derive(masterKey, 'gatehouse/one-time-codes/v1')),
    };
  }

  /** The key of `purpose` in use (derived from this master key, or adopted from an earlier one). */
  derivedKey(purpose: DerivedKeyPurpose): Buffer {
    return this.#derived[purpose].export();
  }

  /** Uses keys carried over from the master key before a rotation (domain/keys/derived-keys.ts). */
  adoptDerivedKey(purpose: DerivedKeyPurpose, key: Buffer) {
    if (key.length !== 32) throw new Error('derived key must be 32 bytes');
    this.#derived[purpose] = createSecretKey(key);
    if (purpose === 'cookies') this.#cookieSealKey = undefined;
  }

  #cookieSealKey?: Buffer;

  /**
   * AES-256-GCM for values a browser keeps (the account page's session cookie): keyed from the
   * cookies key, which a master-key rotation carries over, so a rotation signs nobody out.
   */
  sealForCookie(plaintext: string, aad: string): string {
    return sealWith(this.#cookieSeal(), plaintext, aad);
  }

  openFromCookie(sealed: string, aad: string): string {
    return openWith(this.#cookieSeal(), partsOf(sealed), aad);
  }

  #cookieSeal() {
    return (this.#cookieSealKey ??= createHmac('sha256', this.#derived.cookies).update('gatehouse/cookie-sealing/v1').digest());
  }

  /** Whether `sealed` opens with this key (AES-GCM authenticates: another key never opens it). */
  opens(sealed: string, aad: string): boolean {
    try {
      this.decrypt(sealed, aad);
      return true;
    } catch {
      return false;
    }
  }

  /** AES-256-GCM; output `v1.<iv>.<tag>.<ciphertext>` in base64url. `aad` binds the value to its owner. */
  encrypt(plaintext: string, aad: string): string {
    return sealWith(this.#encKey, plaintext, aad);
  }

  /**
   * Throws MasterKeyNotCurrentError (answered 503) when the value does not open: a stored value
   * then was sealed under another master key, the case of a node left running through a
   * `gatehouse master-key rotate`. Callers opening what a client sent catch it as bad input.
   */
  decrypt(sealed: string, aad: string): string {
    const parts = partsOf(sealed); // malformed: a plain Error, not a question of keys
    try {
      return openWith(this.#encKey, parts, aad);
    } catch (err) {
      throw new MasterKeyNotCurrentError('a value sealed with the master key does not open with this node\'s GATEHOUSE_MASTER_KEY (a master-key rotation since the node started, or a value altered in the database)', { cause: err });
    }
  }

  /** Keyed SHA-256 of a client secret (DESIGN.md: random secrets need no slow hash). */
  hashClientSecret(secret: string): string {
    return createHmac('sha256', this.#derived['client-secret']).update(secret, 'utf8').digest('base64url');
  }

  verifyClientSecret(secret: string, storedHash: string): boolean {
    const a = Buffer.from(this.hashClientSecret(secret));
    const b = Buffer.from(storedHash);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * Keyed SHA-256 of a random one-time value (recovery codes, mailed tokens), bound to its
   * purpose: only the hash is stored, and a leaked table cannot be tried offline without the key.
   */
  hashOneTimeCode(purpose: string, value: string): string {
    return createHmac('sha256', this.#derived['one-time-codes']).update(`${purpose}\n${value}`, 'utf8').digest('base64url');
  }

  /** Per-tenant key for signing oidc-provider cookies. */
  cookieKey(tenantId: string): string {
    return createHmac('sha256', this.#derived.cookies).update(tenantId).digest('base64url');
  }

  /** Fingerprint for logs and health output; not reversible. */
  get fingerprint() {
    return createHmac('sha256', this.#master).update('fingerprint').digest('hex').slice(0, 8);
  }
}

function derive(master: Buffer, info: string) {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
}

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url'); // 256 bits
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The master key from the environment; in development one is generated into the data folder
 * (with a warning), in production it is required (config/load.ts enforces that). `shared`: the
 * database is a server other nodes may use too (DATABASE_URL), where a key in this node's
 * folder is a trap: a second node generates a key of its own and cannot read what this one wrote.
 */
export function resolveMasterKey(base64: string | undefined, dataDir: string, warn: (event: 'config.master_key_generated' | 'config.master_key_local', message: string) => void, options: { shared?: boolean } = {}): Buffer {
  if (base64) return Buffer.from(base64, 'base64');
  ensurePrivateDir(dataDir);
  const file = path.join(dataDir, 'master.key');
  let key: Buffer;
  if (existsSync(file)) {
    // Only its owner reads it, also when it was copied in with a looser mode.
    if (statSync(file).mode & 0o077) chmodSync(file, 0o600);
    key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } else {
    key = randomBytes(32);
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600 });
    warn('config.master_key_generated', `GATEHOUSE_MASTER_KEY is not set: generated one into ${file}. Set GATEHOUSE_MASTER_KEY in production.`);
  }
  if (options.shared) {
    warn('config.master_key_local', `GATEHOUSE_MASTER_KEY is not set but DATABASE_URL is: this node encrypts with the key in ${path.resolve(file)}, local to this machine. ` +
      'A second node on the same database would generate a key of its own and could not decrypt what this one wrote (it refuses to start). ' +
      'Set the same GATEHOUSE_MASTER_KEY on every node (the content of that file).');
  }
  return key;
}
