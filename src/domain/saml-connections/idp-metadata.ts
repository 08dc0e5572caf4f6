import { X509Certificate } from 'node:crypto';
import samlify from 'samlify';
import { MAX_IDP_METADATA_BYTES, type IdpDescription } from './saml-connections.types.js';
import { metadataXmlProblem } from './xml-schema.js';

/** The metadata cannot be used; the message says why, in words an admin can act on. */
export class InvalidIdpMetadataError extends Error {}

const SAML2_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';

type Extracted = string | string[] | null | undefined;
const list = (v: Extracted): string[] => (v == null ? [] : Array.isArray(v) ? v : [v]);

function read(xml: string) {
  try {
    const entity = samlify.IdPMetadata(xml);
    const descriptors = list(samlify.Extractor.extract(xml, [
      { key: 'd', localPath: ['EntityDescriptor', 'IDPSSODescriptor'], attributes: [], context: true },
    ]).d as Extracted);
    return { entity, descriptors };
  } catch {
    // samlify's parser throws on what it cannot read at all (an undeclared entity, say).
    throw new InvalidIdpMetadataError('idp_metadata_xml could not be read as SAML metadata');
  }
}

/** SAML metadata §2.4.1.1: a KeyDescriptor without `use` serves signing and encryption alike. */
function signingCertificates(descriptor: string): string[] {
  const keys = list(samlify.Extractor.extract(descriptor, [
    { key: 'k', localPath: ['IDPSSODescriptor', 'KeyDescriptor'], attributes: [], context: true },
  ]).k as Extracted);
  const certs = keys.flatMap((key) => {
    const found = samlify.Extractor.extract(key, [
      { key: 'use', localPath: ['KeyDescriptor'], attributes: ['use'] },
      { key: 'certs', localPath: ['KeyDescriptor', 'KeyInfo', 'X509Data', 'X509Certificate'], attributes: [] },
    ]);
    const use = list(found.use as Extracted)[0];
    return use === undefined || use === 'signing' ? list(found.certs as Extracted).map((c) => c.replace(/\s+/g, '')) : [];
  });
  for (const cert of certs) {
    try {
      new X509Certificate(Buffer.from(cert, 'base64'));
    } catch {
      throw new InvalidIdpMetadataError('idp_metadata_xml has a signing certificate that is not a valid X.509 certificate');
    }
  }
  return [...new Set(certs)];
}

function ssoUrl(value: string | object): string | null {
  if (typeof value !== 'string' || !value) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidIdpMetadataError('idp_metadata_xml has a SingleSignOnService Location that is not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidIdpMetadataError('idp_metadata_xml has a SingleSignOnService Location that is not http(s)');
  }
  return value;
}

/**
 * Reads an IdP's SAML metadata (one EntityDescriptor with one IDPSSODescriptor) and refuses what
 * a login could not work with: no entity ID, no SSO endpoint on a binding Gatehouse speaks
 * (HTTP-Redirect or HTTP-POST), or no certificate to verify the IdP's signatures with.
 */
export async function describeIdpMetadata(xml: string): Promise<IdpDescription> {
  if (Buffer.byteLength(xml, 'utf8') > MAX_IDP_METADATA_BYTES) {
    throw new InvalidIdpMetadataError(`idp_metadata_xml is larger than ${MAX_IDP_METADATA_BYTES / 1024} kB`);
  }
  // libxml2 reads it first (xml-schema.ts): samlify's own parser (xmldom) reads on past errors.
  const problem = await metadataXmlProblem(xml);
  if (problem) throw new InvalidIdpMetadataError(`idp_metadata_xml is not usable XML: ${problem}`);
  const { entity, descriptors } = read(xml);
  const entityId = entity.getEntityID();
  if (typeof entityId !== 'string' || !entityId.trim()) throw new InvalidIdpMetadataError('idp_metadata_xml has no EntityDescriptor with an entityID');
  if (descriptors.length !== 1) throw new InvalidIdpMetadataError('idp_metadata_xml must have exactly one IDPSSODescriptor');
  const protocols = list(samlify.Extractor.extract(descriptors[0], [
    { key: 'p', localPath: ['IDPSSODescriptor'], attributes: ['protocolSupportEnumeration'] },
  ]).p as Extracted).join(' ').split(/\s+/);
  if (!protocols.includes(SAML2_PROTOCOL)) throw new InvalidIdpMetadataError('idp_metadata_xml has an IDPSSODescriptor that does not support SAML 2.0');
  const ssoRedirectUrl = ssoUrl(entity.getSingleSignOnService('redirect'));
  const ssoPostUrl = ssoUrl(entity.getSingleSignOnService('post'));
  if (!ssoRedirectUrl && !ssoPostUrl) throw new InvalidIdpMetadataError('idp_metadata_xml has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding');
  const certificates = signingCertificates(descriptors[0]);
  if (!certificates.length) throw new InvalidIdpMetadataError('idp_metadata_xml has no signing certificate (KeyDescriptor with an X509Certificate)');
  return { entityId, ssoRedirectUrl, ssoPostUrl, signingCertificates: certificates };
}
