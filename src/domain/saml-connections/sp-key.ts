import { generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { recordAudit } from '../../audit/record.js';
import { samlSpKeyAad } from '../../security/sealed-columns.js';
import { SYSTEM_ACTOR, type Deps } from '../../deps.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { findSamlSpKey, updateSamlSpKeyIfAbsent } from './saml-connections.queries.js';
import { assertSealingKeyCurrent } from '../keys/master-key-check.js';

/** Gatehouse's key pair for one connection: signs its AuthnRequests; the certificate is in its SP metadata. */
export interface SpKey {
  privateKeyPem: string;
  certificatePem: string;
}

/** IdPs pin the certificate from the metadata; ten years spares them a rollover they would not notice. */
const CERTIFICATE_YEARS = 10;

const aad = samlSpKeyAad; // security/sealed-columns.ts: the master key rotation re-encrypts with it
const toPem = (base64Der: string) => `-----BEGIN CERTIFICATE-----\n${base64Der.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** RSA 2048 and a self-signed certificate for it (SAML metadata carries keys as X.509 certificates). */
async function generateSpKey(name: string) {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`; // positive, 128 bits of randomness
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + CERTIFICATE_YEARS * 365 * 86_400_000);
  const subject = [{ name: 'commonName', value: `Gatehouse SAML SP ${name}`.slice(0, 64) }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary').toString('base64');
  return { privateKeyPem: privateKey, certificateBase64: der };
}

/** One generation at a time per connection on this node (a burst of first requests shares it). */
const generating = new Map<string, Promise<unknown>>();

/**
 * The connection's SP key, created on first use (connections made before it existed have none):
 * the first node to store one wins, and every node then reads that one. Undefined when there is no
 * such connection.
 */
export async function ensureSpKey(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, name: string): Promise<SpKey | undefined> {
  const open = (found: { sealed: string; certificate: string }): SpKey => ({
    privateKeyPem: deps.secrets.decrypt(found.sealed, aad(tenant.id, name)),
    certificatePem: toPem(found.certificate),
  });
  const found = await findSamlSpKey(deps.db, tenant.id, name);
  if (!found) return undefined;
  if (found.sealed && found.certificate) return open({ sealed: found.sealed, certificate: found.certificate });
  const slot = `${tenant.id}/${name}`;
  if (!generating.has(slot)) {
    const job = (async () => {
      const key = await generateSpKey(name);
      await deps.db.transaction(async (trx) => {
        await assertSealingKeyCurrent(trx, deps.secrets);
        const stored = await updateSamlSpKeyIfAbsent(trx, tenant.id, name, deps.secrets.encrypt(key.privateKeyPem, aad(tenant.id, name)), key.certificateBase64);
        if (stored) {
          await recordAudit(trx, {
            tenantId: tenant.id, type: 'saml_connection.sp_key_created', actor: SYSTEM_ACTOR.id, subject: `saml-connection:${name}`,
            details: { fingerprint_sha256: new X509Certificate(Buffer.from(key.certificateBase64, 'base64')).fingerprint256 },
          });
        }
      });
    })().finally(() => generating.delete(slot));
    generating.set(slot, job);
  }
  await generating.get(slot);
  const stored = await findSamlSpKey(deps.db, tenant.id, name);
  return stored?.sealed && stored.certificate ? open({ sealed: stored.sealed, certificate: stored.certificate }) : undefined;
}
