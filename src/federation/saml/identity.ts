import type { SamlConnection } from '../../domain/saml-connections/saml-connections.types.js';
import type { FederatedIdentity } from '../federation.types.js';
import type { CheckedResponse } from './response-checks.js';

/** What a verified SAML assertion says about the user, in the words of federation/finish.ts. */
export type SamlIdentity = FederatedIdentity;

const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;
/**
 * AuthnContextClassRef values that name more than one factor: SAML's own (authn context §3.4),
 * and what ADFS/Entra ID, Okta and Shibboleth send for MFA.
 */
const MFA_CONTEXTS = new Set([
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
  'http://schemas.microsoft.com/claims/multipleauthn',
  'http://schemas.microsoft.com/ws/2012/12/authmethod/otp',
  'urn:okta:saml:2.0:ac:classes:mfa',
  'https://refeds.org/profile/mfa',
]);

/**
 * The identity: the NameID is the subject (the link key with the connection); `attribute_mapping`
 * names the attribute of each claim. Without an `email` mapping an email-format NameID is the email.
 * An email is verified when its domain is one of the connection's `email_domains`: the enterprise
 * IdP is the authority for its own domains, and for no other.
 */
export function identityOf(connection: SamlConnection, checked: CheckedResponse): SamlIdentity {
  const first = (claim: keyof SamlConnection['attributeMapping']) => {
    const attribute = connection.attributeMapping[claim];
    const value = attribute ? checked.attributes[attribute]?.[0] : undefined;
    return value ? value.slice(0, 320) : undefined;
  };
  const mappedEmail = connection.attributeMapping.email ? first('email') : checked.nameIdFormat === EMAIL_FORMAT || EMAIL.test(checked.nameId) ? checked.nameId : undefined;
  const email = mappedEmail && EMAIL.test(mappedEmail) ? mappedEmail.toLowerCase() : undefined;
  const domain = email?.slice(email.lastIndexOf('@') + 1);
  const groupsAttribute = connection.attributeMapping.groups;
  return {
    subject: checked.nameId,
    email,
    emailVerified: email ? connection.emailDomains.includes(domain!) : undefined,
    name: first('name'),
    givenName: first('given_name'),
    familyName: first('family_name'),
    groups: groupsAttribute ? [...new Set(checked.attributes[groupsAttribute] ?? [])].slice(0, 500) : undefined,
    upstreamMfa: checked.authnContextClassRef ? MFA_CONTEXTS.has(checked.authnContextClassRef) : false,
  };
}
