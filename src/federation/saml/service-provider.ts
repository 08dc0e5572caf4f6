import samlify from 'samlify';
import { samlServiceProviderUrls } from '../../domain/saml-connections/saml-connection.present.js';
import type { SamlConnection } from '../../domain/saml-connections/saml-connections.types.js';
import type { SpKey } from '../../domain/saml-connections/sp-key.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
// Registers samlify's schema validator (@authenio/samlify-node-xmllint, on its own thread).
import '../../domain/saml-connections/xml-schema.js';

/** Tolerated difference between the IdP's clock and ours, either way (SAML core §2.5.1.2 leaves it to the SP). */
export const CLOCK_SKEW_SECONDS = 120;

const NAMEID = 'urn:oasis:names:tc:SAML';
/** Offered in the metadata; `unspecified` first, so an IdP sends its usual identifier. */
export const NAME_ID_FORMATS = [
  `${NAMEID}:1.1:nameid-format:unspecified`,
  `${NAMEID}:1.1:nameid-format:emailAddress`,
  `${NAMEID}:2.0:nameid-format:persistent`,
];
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

/** Where this connection's SP lives: entity ID = metadata URL (DESIGN.md "SAML federation"). */
export function spEndpoints(publicUrl: string, tenant: Tenant, name: string) {
  const urls = samlServiceProviderUrls(publicUrl, tenant, name);
  return { entityId: urls.sp_entity_id, acsUrl: urls.acs_url };
}

/**
 * samlify's view of Gatehouse as this connection's SP. AuthnRequests are signed, with the
 * connection's own key, exactly when the IdP's metadata says WantAuthnRequestsSigned (samlify
 * refuses the two to disagree); `key` is needed only then.
 */
export function serviceProvider(publicUrl: string, tenant: Tenant, connection: SamlConnection, key?: SpKey) {
  const { entityId, acsUrl } = spEndpoints(publicUrl, tenant, connection.name);
  return samlify.ServiceProvider({
    entityID: entityId,
    assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: acsUrl }],
    nameIDFormat: NAME_ID_FORMATS,
    authnRequestsSigned: Boolean(key),
    wantAssertionsSigned: true,
    wantMessageSigned: false,
    ...(key ? { privateKey: key.privateKeyPem, signingCert: key.certificatePem } : {}),
    requestSignatureAlgorithm: RSA_SHA256,
    allowCreate: true,
    clockDrifts: [-CLOCK_SKEW_SECONDS * 1000, CLOCK_SKEW_SECONDS * 1000],
  });
}

/** samlify's view of the IdP: its metadata as the admin uploaded it (its certificates are the pinned ones). */
export function identityProvider(connection: SamlConnection) {
  return samlify.IdentityProvider({ metadata: connection.idpMetadataXml });
}

/** The IdP's metadata asks for signed AuthnRequests (WantAuthnRequestsSigned="true"). */
export function wantsSignedRequests(connection: SamlConnection) {
  return identityProvider(connection).entityMeta.isWantAuthnRequestsSigned();
}
