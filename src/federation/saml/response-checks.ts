import { X509Certificate } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';

/**
 * Gatehouse's own checks of a SAML Response (SAML 2.0 core §2–3, profiles §4.1.4 "Web Browser SSO
 * Profile: Use of Authentication Request Protocol"), run on a document libxml2 has already found
 * schema-valid and free of DTDs. samlify verifies the same response too (acs.ts); these checks are
 * the ones it leaves to the application, or does differently:
 * - the structure a signature-wrapping attack needs is refused outright: exactly one Assertion in
 *   the whole document, a direct child of the Response; signatures only on those two; IDs unique;
 * - signatures are verified with the connection's pinned certificates only (never one from
 *   KeyInfo), with RSA-SHA256/512 only (no HMAC, no SHA-1);
 * - identity and conditions are read only from the XML the signature check returned (the
 *   canonical form of the signed element), never from the document the attacker sent;
 * - a comment or processing instruction inside the NameID or an attribute value is refused
 *   (XML-DSig canonicalization drops comments, so a reader of the first text node alone would
 *   read a shorter identity than the one signed).
 */

export type RefusalReason =
  | 'missing_response' | 'response_too_large' | 'malformed_response' | 'dtd_not_allowed' | 'schema_invalid'
  | 'not_a_response' | 'idp_status' | 'encrypted_assertion' | 'assertion_count' | 'assertion_misplaced' | 'duplicate_id'
  | 'signature_misplaced' | 'unsigned' | 'bad_signature' | 'weak_signature_algorithm' | 'comment_in_identity'
  | 'wrong_issuer' | 'wrong_destination' | 'wrong_recipient' | 'wrong_audience' | 'expired' | 'not_yet_valid'
  | 'no_bearer_confirmation' | 'missing_nameid' | 'wrong_in_response_to' | 'unsolicited' | 'replayed'
  | 'samlify_refused' | 'identity_mismatch' | 'unknown_connection' | 'validator_unavailable' | 'start_failed';

/** A response Gatehouse will not accept; `reason` goes to the audit trail, never to the page. */
export class SamlRefusal extends Error {
  constructor(readonly reason: RefusalReason, readonly status = 400, readonly extra: Record<string, string> = {}) {
    super(reason);
  }
}

export interface Expectations {
  acsUrl: string;
  spEntityId: string;
  idpEntityId: string;
  /** Base64 DER of the IdP certificates pinned with the connection. */
  idpCertificates: string[];
  now: number;
  skewSeconds: number;
}

export interface CheckedResponse {
  assertionId: string;
  /** The signed SubjectConfirmationData's InResponseTo; undefined for an unsolicited response. */
  inResponseTo?: string;
  /** Milliseconds: after this the assertion is refused anyway (the replay guard keeps its ID until then). */
  usableUntil: number;
  nameId: string;
  nameIdFormat?: string;
  attributes: Record<string, string[]>;
  authnContextClassRef?: string;
}

const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
};
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const SIGNATURE_ALGORITHMS = new Set(['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512']);
const DIGEST_ALGORITHMS = new Set(['http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2001/04/xmlenc#sha512']);
/** xml-crypto finds referenced elements by any of these (its idAttributes). */
const ID_ATTRIBUTES = ['ID', 'Id', 'id'];
const MAX_NAMEID_LENGTH = 512;

const ELEMENT = 1;
const TEXT = 3;
const CDATA = 4;

function parse(xml: string): Document {
  const fail = () => {
    throw new SamlRefusal('malformed_response');
  };
  return new DOMParser({ errorHandler: { warning: () => {}, error: fail, fatalError: fail } }).parseFromString(xml, 'text/xml') as unknown as Document;
}

const children = (el: Element, ns: string, name: string) =>
  Array.from(el.childNodes).filter((n): n is Element => n.nodeType === ELEMENT && (n as Element).namespaceURI === ns && (n as Element).localName === name);
const child = (el: Element, ns: string, name: string) => children(el, ns, name)[0];
const all = (root: Document | Element, ns: string, name: string) => Array.from(root.getElementsByTagNameNS(ns, name));
const text = (el: Element | undefined) => (el?.textContent ?? '').trim();
/** xmldom answers '' for an absent attribute: absent is undefined here. */
const attr = (el: Element | undefined, name: string) => (el?.hasAttribute(name) ? el.getAttribute(name)! : undefined);

/** Every element under `root`, without recursion (a deep document must not exhaust the stack). */
function elementsOf(root: Element): Element[] {
  const found: Element[] = [];
  const stack: Element[] = [root];
  while (stack.length) {
    const el = stack.pop()!;
    found.push(el);
    for (const c of Array.from(el.childNodes)) if (c.nodeType === ELEMENT) stack.push(c as Element);
  }
  return found;
}

function time(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new SamlRefusal('malformed_response');
  return ms;
}

/** Only text may make up an identity value (see the file comment). */
function assertPlainText(el: Element) {
  for (const c of Array.from(el.childNodes)) {
    if (c.nodeType !== TEXT && c.nodeType !== CDATA && c.nodeType !== ELEMENT) throw new SamlRefusal('comment_in_identity');
  }
}

const pem = (base64Der: string) => new X509Certificate(Buffer.from(base64Der, 'base64')).toString();

/**
 * Verifies one ds:Signature with the pinned certificates; returns the canonical XML of the element
 * it signs (the signed reference), or throws. It must sign its own parent, by that parent's ID.
 */
function verifySignature(signature: Element, signedElement: Element, xml: string, certificates: string[]): string {
  const signedInfo = child(signature, NS.dsig, 'SignedInfo');
  const method = signedInfo && attr(child(signedInfo, NS.dsig, 'SignatureMethod'), 'Algorithm');
  const references = signedInfo ? children(signedInfo, NS.dsig, 'Reference') : [];
  if (references.length !== 1 || attr(references[0], 'URI') !== `#${attr(signedElement, 'ID')}`) throw new SamlRefusal('signature_misplaced');
  const digest = attr(child(references[0], NS.dsig, 'DigestMethod'), 'Algorithm');
  if (!method || !SIGNATURE_ALGORITHMS.has(method) || !digest || !DIGEST_ALGORITHMS.has(digest)) throw new SamlRefusal('weak_signature_algorithm');
  for (const certificate of certificates) {
    // KeyInfo is never read: the key is the pinned one (xml-crypto would otherwise prefer KeyInfo's).
    const verifier = new SignedXml({ publicCert: pem(certificate), getCertFromKeyInfo: () => null });
    try {
      verifier.loadSignature(signature as unknown as Node);
      if (verifier.checkSignature(xml)) {
        const signed = verifier.getSignedReferences();
        if (signed.length === 1) return signed[0];
      }
    } catch {
      // A reference that does not resolve, or resolves twice: not a valid signature.
    }
  }
  throw new SamlRefusal('bad_signature');
}

/** The structure of the document as sent: everything a wrapping attack would need is refused. */
function checkStructure(doc: Document) {
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== NS.protocol || root.localName !== 'Response') throw new SamlRefusal('not_a_response');
  const status = child(root, NS.protocol, 'Status');
  const code = status && attr(child(status, NS.protocol, 'StatusCode'), 'Value');
  if (code !== SUCCESS) throw new SamlRefusal('idp_status', 400, { status: String(code ?? 'none').slice(0, 120) });
  if (all(doc, NS.assertion, 'EncryptedAssertion').length || all(doc, NS.assertion, 'EncryptedID').length) throw new SamlRefusal('encrypted_assertion');
  const assertions = all(doc, NS.assertion, 'Assertion');
  if (assertions.length !== 1) throw new SamlRefusal('assertion_count');
  const assertion = assertions[0];
  if (assertion.parentNode !== root) throw new SamlRefusal('assertion_misplaced');
  const ids = new Set<string>();
  for (const el of elementsOf(root)) {
    for (const name of ID_ATTRIBUTES) {
      const id = el.getAttribute(name);
      if (id === null || id === '') continue;
      if (ids.has(id)) throw new SamlRefusal('duplicate_id');
      ids.add(id);
    }
  }
  const signatures = all(doc, NS.dsig, 'Signature');
  for (const s of signatures) if (s.parentNode !== root && s.parentNode !== assertion) throw new SamlRefusal('signature_misplaced');
  const responseSignatures = children(root, NS.dsig, 'Signature');
  const assertionSignatures = children(assertion, NS.dsig, 'Signature');
  if (responseSignatures.length > 1 || assertionSignatures.length > 1) throw new SamlRefusal('signature_misplaced');
  if (!signatures.length) throw new SamlRefusal('unsigned');
  return { root, assertion, responseSignature: responseSignatures[0], assertionSignature: assertionSignatures[0] };
}

/** The Assertion as signed: its own signature's reference, else the one inside the signed Response. */
function signedAssertion(doc: Document, xml: string, e: Expectations): Element {
  const { root, assertion, responseSignature, assertionSignature } = checkStructure(doc);
  // Every signature present must verify: one bad signature is never outweighed by a good one.
  const fromResponse = responseSignature ? verifySignature(responseSignature, root, xml, e.idpCertificates) : undefined;
  const fromAssertion = assertionSignature ? verifySignature(assertionSignature, assertion, xml, e.idpCertificates) : undefined;
  if (fromAssertion !== undefined) {
    const signed = parse(fromAssertion).documentElement as Element;
    if (signed.namespaceURI !== NS.assertion || signed.localName !== 'Assertion') throw new SamlRefusal('signature_misplaced');
    return signed;
  }
  const signedRoot = parse(fromResponse!).documentElement as Element;
  const inside = children(signedRoot, NS.assertion, 'Assertion');
  if (inside.length !== 1) throw new SamlRefusal('assertion_count');
  return inside[0];
}

/** Checks everything of a Response that needs no stored state; throws SamlRefusal. */
export function checkResponse(xml: string, e: Expectations): CheckedResponse {
  const doc = parse(xml);
  const signed = signedAssertion(doc, xml, e);
  const root = doc.documentElement as Element;
  const now = e.now;
  const skew = e.skewSeconds * 1000;

  // Identity values as sent: only text (the canonical form has no comments left to see).
  const sent = all(doc, NS.assertion, 'Assertion')[0];
  for (const el of [...all(sent, NS.assertion, 'NameID'), ...all(sent, NS.assertion, 'AttributeValue')]) assertPlainText(el);

  // Issuer: of the assertion (signed) and, when given, of the Response.
  if (text(child(signed, NS.assertion, 'Issuer')) !== e.idpEntityId) throw new SamlRefusal('wrong_issuer');
  const responseIssuer = child(root, NS.assertion, 'Issuer');
  if (responseIssuer && text(responseIssuer) !== e.idpEntityId) throw new SamlRefusal('wrong_issuer');

  // SAML bindings §3.5.5.2: Destination must be the ACS URL (required when the Response is signed).
  const destination = attr(root, 'Destination');
  if (destination !== undefined ? destination !== e.acsUrl : children(root, NS.dsig, 'Signature').length > 0) throw new SamlRefusal('wrong_destination');

  const subject = child(signed, NS.assertion, 'Subject');
  const nameIdElement = subject && child(subject, NS.assertion, 'NameID');
  const nameId = text(nameIdElement);
  if (!nameId || nameId.length > MAX_NAMEID_LENGTH) throw new SamlRefusal('missing_nameid');

  // Conditions (SAML core §2.5): the validity window, and an audience that is this connection's SP.
  const conditions = child(signed, NS.assertion, 'Conditions');
  if (!conditions) throw new SamlRefusal('wrong_audience');
  const notBefore = time(attr(conditions, 'NotBefore'));
  const notOnOrAfter = time(attr(conditions, 'NotOnOrAfter'));
  if (notBefore !== undefined && now + skew < notBefore) throw new SamlRefusal('not_yet_valid');
  if (notOnOrAfter !== undefined && now - skew >= notOnOrAfter) throw new SamlRefusal('expired');
  const restrictions = children(conditions, NS.assertion, 'AudienceRestriction');
  if (!restrictions.length || !restrictions.every((r) => children(r, NS.assertion, 'Audience').some((a) => text(a) === e.spEntityId))) {
    throw new SamlRefusal('wrong_audience');
  }

  // Profiles §4.1.4.2: a bearer SubjectConfirmation with Recipient, NotOnOrAfter and (solicited) InResponseTo.
  const bearers = subject ? children(subject, NS.assertion, 'SubjectConfirmation').filter((c) => attr(c, 'Method') === BEARER) : [];
  if (bearers.length !== 1) throw new SamlRefusal('no_bearer_confirmation');
  const data = child(bearers[0], NS.assertion, 'SubjectConfirmationData');
  if (!data || attr(data, 'Recipient') !== e.acsUrl) throw new SamlRefusal('wrong_recipient');
  const confirmationEnds = time(attr(data, 'NotOnOrAfter'));
  if (confirmationEnds === undefined || now - skew >= confirmationEnds) throw new SamlRefusal('expired');
  const confirmationStarts = time(attr(data, 'NotBefore'));
  if (confirmationStarts !== undefined && now + skew < confirmationStarts) throw new SamlRefusal('not_yet_valid');
  const inResponseTo = attr(data, 'InResponseTo');
  const responseInResponseTo = attr(root, 'InResponseTo');
  if (responseInResponseTo !== undefined && responseInResponseTo !== inResponseTo) throw new SamlRefusal('wrong_in_response_to');

  const authn = child(signed, NS.assertion, 'AuthnStatement');
  if (!authn) throw new SamlRefusal('no_bearer_confirmation');
  const sessionEnds = time(attr(authn, 'SessionNotOnOrAfter'));
  if (sessionEnds !== undefined && now - skew >= sessionEnds) throw new SamlRefusal('expired');
  const context = child(authn, NS.assertion, 'AuthnContext');

  const attributes: Record<string, string[]> = {};
  for (const statement of children(signed, NS.assertion, 'AttributeStatement')) {
    for (const attribute of children(statement, NS.assertion, 'Attribute')) {
      const name = attr(attribute, 'Name');
      if (!name) continue;
      (attributes[name] ??= []).push(...children(attribute, NS.assertion, 'AttributeValue').map(text).filter(Boolean));
    }
  }

  return {
    assertionId: attr(signed, 'ID')!,
    inResponseTo,
    usableUntil: Math.min(confirmationEnds, notOnOrAfter ?? Infinity, sessionEnds ?? Infinity) + skew,
    nameId,
    nameIdFormat: attr(nameIdElement, 'Format'),
    attributes,
    authnContextClassRef: context ? text(child(context, NS.assertion, 'AuthnContextClassRef')) || undefined : undefined,
  };
}
