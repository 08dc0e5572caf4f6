import http from 'node:http';
import { inflateRawSync } from 'node:zlib';
import * as oidc from 'openid-client';
import { startGatehouse, type Gatehouse } from '../../../src/app.js';
import { CLI_ACTOR } from '../../../src/deps.js';
import { createSamlConnection } from '../../../src/domain/saml-connections/saml-connections.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { FederationBrowser } from '../../support/federation.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { base64, idpMetadataOf, makeKeys, signedResponseXml, type ResponseSpec } from '../../support/saml/test-idp.js';

// The negative corpus: real responses, signed by xmlsec1 with the IdP's key (or another's), then
// altered as an attacker would. Each must get the generic 4xx page, a saml.login.failed event
// naming the check that refused it, and no user, link or login.

const IDP = 'https://idp.corp.example';
let gh: TestGatehouse;
let a: Tenant;
let b: Tenant;
let keys: ReturnType<typeof makeKeys>;
let rp: { config: oidc.Configuration; redirectUri: string };
let rpB: { config: oidc.Configuration; redirectUri: string };

const acsOf = (t: Tenant, name = 'corp') => `${gh.url}/t/${t.slug}/saml/${name}/acs`;
const entityOf = (t: Tenant, name = 'corp') => `${gh.url}/t/${t.slug}/saml/${name}/metadata`;

/** A login of tenant A's application that went to the IdP: the ID of its AuthnRequest. */
async function authnRequestId(tenant = a, browser = new FederationBrowser(gh.url)) {
  const app = tenant === a ? rp : rpB;
  const url = oidc.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirectUri, scope: 'openid', idp_hint: 'corp',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const page = await browser.go(url.href);
  const request = inflateRawSync(Buffer.from(new URL(page.location!).searchParams.get('SAMLRequest')!, 'base64')).toString();
  return { id: /\sID="([^"]+)"/.exec(request)![1], browser };
}

const spec = (inResponseTo: string, overrides: Partial<ResponseSpec> = {}): ResponseSpec => ({
  idp_entity_id: IDP, sp_entity_id: entityOf(a), acs_url: acsOf(a), name_id: 'victim@corp.example',
  key: keys.pairs.idp.key, cert: keys.pairs.idp.cert, in_response_to: inResponseTo,
  attributes: { email: 'victim@corp.example', groups: ['admins'] }, ...overrides,
});

/** A form post on a connection of its own (no keep-alive socket that the busy server may have just closed). */
function post(acs: string, samlResponse: string, origin = gh.url): Promise<{ status: number; location: string | undefined; html: string }> {
  const body = new URLSearchParams({ SAMLResponse: samlResponse }).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(acs.replace(gh.url, origin), {
      method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let html = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (html += c));
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location, html }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function counts() {
  const [users] = await gh.deps.db('users').whereIn('tenant_id', [a.id, b.id]).count<{ count: string }[]>();
  const [links] = await gh.deps.db('federated_identities').count<{ count: string }[]>();
  const [logins] = await gh.deps.db('audit_events').whereIn('type', ['saml.login.succeeded', 'federation.login.succeeded']).count<{ count: string }[]>();
  return { users: Number(users.count), links: Number(links.count), logins: Number(logins.count) };
}

/** Posts a response and checks the refusal: generic page, audited reason, nothing created. */
async function expectRefused(samlResponse: string, reason: string, { status = 400, tenant = a, acs = acsOf(a), origin = gh.url } = {}) {
  const before = await counts();
  const res = await post(acs, samlResponse, origin);
  expect([reason, res.status]).toEqual([reason, status]);
  expect(res.html).toContain('Sign-in failed');
  expect(res.html).not.toContain('victim'); // nothing of the assertion on the page
  const [failed] = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'saml.login.failed' }).orderBy('id', 'desc').limit(1);
  expect(failed).toMatchObject({ outcome: 'failure', subject: reason === 'unknown_connection' ? null : 'saml-connection:corp', details: expect.objectContaining({ reason }) });
  expect(JSON.stringify(failed.details)).not.toContain('victim');
  expect(await counts()).toEqual(before);
}

beforeAll(async () => {
  gh = await startTestGatehouse();
  keys = makeKeys('idp', 'attacker');
  a = await gh.tenant();
  b = await gh.tenant();
  for (const t of [a, b]) {
    await createSamlConnection(gh.deps, t, 'corp', {
      displayName: 'Corp', idpMetadataXml: idpMetadataOf(IDP, keys.pairs.idp).replace(`entityID="${IDP}/metadata"`, `entityID="${IDP}"`),
      emailDomains: [], attributeMapping: { email: 'email', groups: 'groups' }, groupRoleMapping: {}, allowIdpInitiated: false, upstreamMfaCounts: false,
    }, CLI_ACTOR);
  }
  const rpOf = async (t: Tenant) => {
    const app = await gh.client(t);
    return { config: await oidc.discovery(new URL(`${gh.url}/t/${t.slug}`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] }), redirectUri: app.redirectUri };
  };
  rp = await rpOf(a);
  rpB = await rpOf(b);
}, 180_000);
afterAll(async () => {
  keys?.cleanup();
  await gh?.stop();
});

describe('SAML ACS refuses', () => {
  let id: string;
  beforeAll(async () => {
    id = (await authnRequestId()).id;
  }, 60_000);

  it('an unsigned response, a broken signature, and one signed by another key carrying its own certificate', async () => {
    await expectRefused(base64(signedResponseXml(spec(id, { sign: 'none' }))), 'unsigned');
    const signed = signedResponseXml(spec(id));
    await expectRefused(base64(signed.replace('<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">victim@', '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">boss@')), 'bad_signature');
    const byAttacker = signedResponseXml(spec(id, { key: keys.pairs.attacker.key, cert: keys.pairs.attacker.cert }));
    expect(byAttacker).toContain(keys.pairs.attacker.certBody.slice(0, 60)); // KeyInfo names the attacker's certificate
    await expectRefused(base64(byAttacker), 'bad_signature');
    const responseOnlyTampered = signedResponseXml(spec(id, { sign: 'response' })).replace('victim@corp.example</saml:NameID>', 'boss@corp.example</saml:NameID>');
    await expectRefused(base64(responseOnlyTampered), 'bad_signature');
  }, 120_000);

  it('a wrong audience (another tenant\'s SP), issuer, destination or recipient', async () => {
    await expectRefused(base64(signedResponseXml(spec(id, { audience: entityOf(b) }))), 'wrong_audience');
    await expectRefused(base64(signedResponseXml(spec(id, { issuer: 'https://evil.example' }))), 'wrong_issuer');
    await expectRefused(base64(signedResponseXml(spec(id, { destination: acsOf(b) }))), 'wrong_destination');
    await expectRefused(base64(signedResponseXml(spec(id, { recipient: acsOf(b) }))), 'wrong_recipient');
  }, 120_000);

  it('an expired assertion and one not yet valid (beyond the clock skew)', async () => {
    await expectRefused(base64(signedResponseXml(spec(id, { not_before: -1200, not_on_or_after: -600 }))), 'expired');
    await expectRefused(base64(signedResponseXml(spec(id, { not_on_or_after: 900, confirmation_not_on_or_after: -600 }))), 'expired');
    await expectRefused(base64(signedResponseXml(spec(id, { not_before: 900, not_on_or_after: 1800 }))), 'not_yet_valid');
  }, 120_000);

  it('an InResponseTo this connection never sent, or sent by the same connection name in another tenant', async () => {
    await expectRefused(base64(signedResponseXml(spec('_forged-request-id'))), 'wrong_in_response_to');
    const ofB = (await authnRequestId(b)).id;
    await expectRefused(base64(signedResponseXml(spec(ofB))), 'wrong_in_response_to');
  }, 120_000);

  it('signature wrapping: a forged assertion before, around or inside the signed one', async () => {
    const signed = signedResponseXml(spec(id));
    const signedAssertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(signed)![0];
    const forged = signedAssertion.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '').replace(/ID="[^"]+"/, 'ID="_forged"').replace(/victim@corp\.example/g, 'boss@corp.example');
    // Before: the forged (unsigned) assertion is the first one a naive reader finds.
    await expectRefused(base64(signed.replace('<saml:Assertion', `${forged}<saml:Assertion`)), 'assertion_count');
    // Around: the signed assertion hidden in the Advice of a forged one (schema-valid).
    await expectRefused(base64(signed.replace(signedAssertion, forged.replace('</saml:Conditions>', `</saml:Conditions><saml:Advice>${signedAssertion}</saml:Advice>`))), 'assertion_count');
    // Inside: the signed assertion moved into the SubjectConfirmationData of a forged one (schema-valid).
    const inside = forged.replace(/(<saml:SubjectConfirmationData[^>]*?)\/>/, `$1>${signedAssertion}</saml:SubjectConfirmationData>`);
    await expectRefused(base64(signed.replace(signedAssertion, inside)), 'assertion_count');
    // A signed Response wrapped in the Extensions of a forged one, next to a forged assertion.
    const responseSigned = signedResponseXml(spec(id, { sign: 'response' }));
    const open = /<samlp:Response [^>]*>/.exec(responseSigned)![0].replace(/ID="[^"]+"/, 'ID="_evil"');
    const wrapped = `${open}<saml:Issuer>${IDP}</saml:Issuer><samlp:Extensions>${responseSigned}</samlp:Extensions><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>${forged}</samlp:Response>`;
    await expectRefused(base64(wrapped), 'schema_invalid');
  }, 120_000);

  it('a comment inside the NameID (a shorter identity than the one signed)', async () => {
    const signed = signedResponseXml(spec(id, { name_id: 'victim@corp.example.attacker.example', attributes: {} }));
    const commented = signed.replace('victim@corp.example.attacker.example</saml:NameID>', 'victim@corp.example<!---->.attacker.example</saml:NameID>');
    expect(commented).not.toBe(signed);
    await expectRefused(base64(commented), 'comment_in_identity');
  }, 120_000);

  it('two assertions, two roots, a DTD with an entity, and an oversized response', async () => {
    const signed = signedResponseXml(spec(id));
    const assertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(signed)![0];
    await expectRefused(base64(signed.replace('</samlp:Response>', `${assertion.replace(/ID="_a/, 'ID="_b')}</samlp:Response>`)), 'assertion_count');
    await expectRefused(base64(`${signed}${signed}`), 'schema_invalid');
    await expectRefused(base64(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY who "boss@corp.example">]>${signed.replace('victim@corp.example</saml:NameID>', '&who;</saml:NameID>')}`), 'dtd_not_allowed');
    const big = signedResponseXml(spec(id, { attributes: { email: 'victim@corp.example', padding: 'x'.repeat(300_000) } }));
    await expectRefused(base64(big), 'response_too_large', { status: 413 });
    await expectRefused('not base64 at all!', 'malformed_response');
  }, 120_000);

  it('a response of tenant A at tenant B\'s ACS, and any response at an unknown connection', async () => {
    await expectRefused(base64(signedResponseXml(spec(id))), 'wrong_destination', { tenant: b, acs: acsOf(b) });
    await expectRefused(base64(signedResponseXml(spec(id, { destination: acsOf(b), recipient: acsOf(b) }))), 'wrong_audience', { tenant: b, acs: acsOf(b) });
    await expectRefused(base64(signedResponseXml(spec(id))), 'unknown_connection', { status: 404, acs: acsOf(a, 'nope') });
  }, 120_000);
});

describe('SAML ACS accepts an assertion once', () => {
  it('refuses a replay of an accepted response, also at a second node sharing Redis', async () => {
    const { id } = await authnRequestId();
    const response = base64(signedResponseXml(spec(id, { name_id: 'replayed@corp.example', attributes: { email: 'replayed@corp.example' } })));
    const first = await post(acsOf(a), response);
    expect(first.status).toBe(303);
    expect(first.location).toMatch(new RegExp(`/t/${a.slug}/interaction/[^/]+/federated\\?result=`));
    await expectRefused(response, 'replayed');
    if (!process.env.DATABASE_URL || !process.env.REDIS_URL) return; // two nodes need PostgreSQL and Redis
    // Another node behind the same PUBLIC_URL, sharing the database and the Redis keys.
    const nodeB: Gatehouse = await startGatehouse({ ...gh.config, port: 0, publicUrl: gh.url, publicUrlFixed: true }, { kvPrefix: gh.deps.kvPrefix });
    try {
      const origin = `http://localhost:${(nodeB.server.address() as { port: number }).port}`;
      await expectRefused(response, 'replayed', { origin });
      // The same node B accepts a fresh response (so the refusal above was the replay guard's).
      const fresh = base64(signedResponseXml(spec((await authnRequestId()).id, { name_id: 'fresh@corp.example', attributes: { email: 'fresh@corp.example' } })));
      expect((await post(acsOf(a), fresh, origin)).status).toBe(303);
    } finally {
      nodeB.server.closeAllConnections?.();
      await nodeB.close();
    }
  }, 180_000);
});
