import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

// Self-signed test IdP certificates (openssl req -x509 -newkey rsa:2048 -nodes -days 3650
// -subj /CN=test-idp); their keys were not kept: these tests only store and present metadata.
const pem = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');
export const IDP_CERT_PEM = pem('./idp-cert.pem');
export const IDP_NEXT_CERT_PEM = pem('./idp-cert-next.pem');
const base64 = (p: string) => p.replace(/-----[^-]+-----|\s/g, '');
export const fingerprint = (p: string) => new X509Certificate(p).fingerprint256;

const keyDescriptor = (p: string, use?: string) =>
  `<md:KeyDescriptor${use ? ` use="${use}"` : ''}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
${base64(p).replace(/(.{64})/g, '$1\n')}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;

export interface IdpMetadataOptions {
  entityId?: string;
  /** KeyDescriptor elements; by default one signing certificate. */
  keys?: string;
  sso?: string;
  /** Extra elements inside the IDPSSODescriptor. */
  extra?: string;
}

/** SAML 2.0 IdP metadata as an IdP (Keycloak, Okta, ADFS) publishes it. */
export function idpMetadata(o: IdpMetadataOptions = {}) {
  const entityId = o.entityId ?? 'https://idp.example.com/saml/metadata';
  const keys = o.keys ?? keyDescriptor(IDP_CERT_PEM, 'signing');
  const sso = o.sso ?? `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/saml/sso"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/saml/sso/post"/>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    ${keys}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    ${sso}
    ${o.extra ?? ''}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`;
}

export { keyDescriptor };
