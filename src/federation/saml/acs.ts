import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { recordAuditNow } from '../../audit/record.js';
import type { Deps } from '../../deps.js';
import { findSamlConnection } from '../../domain/saml-connections/saml-connections.queries.js';
import { SAML_CONNECTION_NAME, type SamlConnection } from '../../domain/saml-connections/saml-connections.types.js';
import { declarationProblem, isValidSamlMessage, XmlValidatorUnavailableError } from '../../domain/saml-connections/xml-schema.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { log } from '../../log/logger.js';
import { identityOf, type SamlIdentity } from './identity.js';
import { acceptAssertionOnce, takeAuthnRequest } from './replay-guard.js';
import { checkResponse, SamlRefusal, type CheckedResponse } from './response-checks.js';
import { renderSamlRefusal } from './saml-page.js';
import { CLOCK_SKEW_SECONDS, identityProvider, serviceProvider, spEndpoints } from './service-provider.js';
import { handOverUnsolicited } from './unsolicited.js';

/**
 * Base64 characters of a SAMLResponse: real ones (a few dozen attributes and groups) stay far
 * below; larger is refused before anything decodes it.
 */
export const MAX_SAML_RESPONSE_CHARS = 256 * 1024;
/** The form parser's own cap sits above it, so an oversized response is still audited. */
const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '1mb', encoding: 'utf-8' });
const BASE64 = /^[A-Za-z0-9+/\r\n]+={0,2}[\r\n]*$/;

/** What a verified response leads to: the login of its AuthnRequest, or (unsolicited) none. */
export type OnVerified = (ctx: Context, deps: Deps, tenant: Tenant, verified: { connection: SamlConnection; identity: SamlIdentity; interactionUid: string }) => Promise<void>;

async function readSamlResponse(ctx: Context): Promise<string> {
  try {
    await parseForm(ctx, async () => {});
  } catch (err) {
    throw new SamlRefusal((err as { status?: number }).status === 413 ? 'response_too_large' : 'missing_response', (err as { status?: number }).status === 413 ? 413 : 400);
  }
  const value = ((ctx.request as { body?: Record<string, unknown> }).body ?? {}).SAMLResponse;
  if (typeof value !== 'string' || !value) throw new SamlRefusal('missing_response');
  if (value.length > MAX_SAML_RESPONSE_CHARS) throw new SamlRefusal('response_too_large', 413);
  return value;
}

function decode(encoded: string): string {
  if (!BASE64.test(encoded)) throw new SamlRefusal('malformed_response');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(encoded, 'base64'));
  } catch {
    throw new SamlRefusal('malformed_response');
  }
}

/**
 * The checks do no I/O: anything they throw other than a refusal (a parser or canonicalizer
 * tripping over a hostile document) is a document Gatehouse cannot read, never a 500.
 */
function checkedOrRefused(check: () => CheckedResponse): CheckedResponse {
  try {
    return check();
  } catch (err) {
    if (err instanceof SamlRefusal) throw err;
    log().warn('saml.response.unreadable', { error: { name: (err as Error)?.name } });
    throw new SamlRefusal('malformed_response');
  }
}

/** samlify's own verification of the same response, and the same identity read from it. */
async function samlifyAgrees(deps: Deps, tenant: Tenant, connection: SamlConnection, encoded: string, checked: CheckedResponse) {
  let nameId: unknown;
  try {
    const sp = serviceProvider(deps.config.publicUrl, tenant, connection);
    const result = await sp.parseLoginResponse(identityProvider(connection), 'post', { body: { SAMLResponse: encoded } });
    nameId = result.extract?.nameID;
  } catch (err) {
    // samlify signals by an error code at the start of its message (ERR_…, FAILED_…).
    const code = /^[A-Z][A-Z0-9_]{2,60}/.exec(err instanceof Error ? err.message : String(err))?.[0] ?? 'unknown';
    throw new SamlRefusal('samlify_refused', 400, { code });
  }
  if (typeof nameId !== 'string' || nameId.trim() !== checked.nameId) throw new SamlRefusal('identity_mismatch');
}

/**
 * `POST ${issuer}/saml/${name}/acs` (HTTP-POST binding): everything a response must pass, in
 * order, the first failure refusing it with a 4xx generic page and a `saml.login.failed` event
 * naming the reason (never the assertion's content). The stateless checks come first; only a
 * response that passed them spends its assertion ID (replay guard) and its AuthnRequest.
 */
export async function receiveSamlResponse(ctx: Context, deps: Deps, onVerified: OnVerified) {
  const tenant = ctx.state.tenant as Tenant;
  const name = String(ctx.params.name);
  const audit = { tenantId: tenant.id, ip: ctx.ip, userAgent: ctx.get('user-agent') || null };
  try {
    const connection = SAML_CONNECTION_NAME.test(name) ? await findSamlConnection(deps.db, tenant.id, name) : undefined;
    if (!connection) throw new SamlRefusal('unknown_connection', 404);
    const encoded = await readSamlResponse(ctx);
    const xml = decode(encoded);
    if (declarationProblem(xml)) throw new SamlRefusal('dtd_not_allowed');
    if (!(await isValidSamlMessage(xml))) throw new SamlRefusal('schema_invalid');
    const { entityId, acsUrl } = spEndpoints(deps.config.publicUrl, tenant, connection.name);
    const checked = checkedOrRefused(() => checkResponse(xml, {
      acsUrl, spEntityId: entityId, idpEntityId: connection.entityId, idpCertificates: connection.signingCertificates,
      now: Date.now(), skewSeconds: CLOCK_SKEW_SECONDS,
    }));
    await samlifyAgrees(deps, tenant, connection, encoded, checked);
    if (!(await acceptAssertionOnce(deps, tenant.id, connection.name, checked.assertionId, checked.usableUntil))) throw new SamlRefusal('replayed');
    let interactionUid: string | undefined;
    if (checked.inResponseTo !== undefined) {
      interactionUid = (await takeAuthnRequest(deps, tenant.id, connection.name, checked.inResponseTo))?.interactionUid;
      if (!interactionUid) throw new SamlRefusal('wrong_in_response_to');
    } else if (!connection.allowIdpInitiated) {
      throw new SamlRefusal('unsolicited', 403);
    }
    const identity = identityOf(connection, checked);
    await recordAuditNow(deps.db, {
      ...audit, type: 'saml.login.succeeded', actor: null, subject: `saml-connection:${connection.name}`, outcome: 'success',
      details: { connection: connection.name, idp_initiated: !interactionUid, upstream_mfa: Boolean(identity.upstreamMfa) },
    });
    log().info('saml.login.succeeded', { connection: connection.name, idp_initiated: !interactionUid });
    if (interactionUid) await onVerified(ctx, deps, tenant, { connection, identity, interactionUid });
    else await handOverUnsolicited(ctx, deps, tenant, connection.name, identity);
  } catch (err) {
    const refusal = err instanceof SamlRefusal ? err : err instanceof XmlValidatorUnavailableError ? new SamlRefusal('validator_unavailable', 503) : undefined;
    if (!refusal) throw err; // storage outages answer 503 (ops/unavailable.ts)
    await refuseSamlLogin(ctx, deps, tenant, name, refusal);
  }
}

/** Audits a refused SAML login and shows the generic page. */
export async function refuseSamlLogin(ctx: Context, deps: Deps, tenant: Tenant, name: string, refusal: SamlRefusal) {
  log().info('saml.login.failed', { connection: name.slice(0, 64), reason: refusal.reason, ...refusal.extra });
  await recordAuditNow(deps.db, {
    // The connection it was refused at, when there is one (an unknown name is an anonymous refusal).
    tenantId: tenant.id, type: 'saml.login.failed', actor: null, subject: refusal.reason === 'unknown_connection' ? null : `saml-connection:${name}`, ip: ctx.ip, userAgent: ctx.get('user-agent') || null,
    outcome: 'failure', details: { connection: name.slice(0, 64), reason: refusal.reason, ...refusal.extra },
  });
  renderSamlRefusal(ctx, refusal.status, tenant.name);
}
