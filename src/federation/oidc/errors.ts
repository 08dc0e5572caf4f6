import { ResponseBodyError, AuthorizationResponseError } from 'openid-client';
import { isStorageUnavailable } from '../../deps.js';
import { OutboundRefusedError } from '../../security/outbound-fetch.js';
import { InsecureIssuerError } from './upstream.js';

/** Why an upstream step failed, for the audit trail, and the status the browser gets. */
export interface UpstreamFailure {
  reason: string;
  status: number;
  code?: string;
}

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

const codeOf = (e: unknown) => {
  const code = (e as { code?: unknown; error?: unknown })?.error ?? (e as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,80}$/.test(code) ? code : undefined;
};

/**
 * Sorts an error from openid-client into the failure classes of a federated login: refused by
 * the SSRF guard (502), unreachable (503), an OAuth error answer (502), a response that failed
 * validation, the ID token's included (502). `step` names where it happened.
 */
export function classifyUpstreamError(err: unknown, step: 'discovery' | 'exchange' | 'userinfo'): UpstreamFailure {
  // Not the upstream's fault: our own storage or master key (the connection's secret did not open).
  if (isStorageUnavailable(err)) throw err;
  const chain = causes(err);
  if (chain.some((e) => e instanceof OutboundRefusedError)) return { reason: 'outbound_refused', status: 502 };
  if (chain.some((e) => e instanceof InsecureIssuerError)) return { reason: 'insecure_issuer', status: 502 };
  if (err instanceof ResponseBodyError || err instanceof AuthorizationResponseError) return { reason: `${step}_failed`, status: 502, code: codeOf(err) };
  const code = chain.map(codeOf).find(Boolean);
  if (code && /^OAUTH_/.test(code)) {
    // oauth4webapi's failed JWS check carries the signature it refused as its cause.
    const badSignature = chain.some((e) => (e as { cause?: { signature?: unknown } })?.cause?.signature !== undefined);
    const idToken = step === 'exchange' && (badSignature || /JWT|JWS|JWK|NONCE|CLAIM|ID_TOKEN|TIMESTAMP|KEY/.test(code));
    return { reason: idToken ? 'invalid_id_token' : `${step}_invalid_response`, status: 502, code };
  }
  const aborted = chain.some((e) => e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'));
  const network = chain.some((e) => e instanceof TypeError || /^E[A-Z]+$/.test(String((e as { code?: unknown })?.code ?? '')));
  if (aborted || network) return { reason: 'upstream_unreachable', status: 503, code };
  return { reason: `${step}_failed`, status: 502, code };
}
