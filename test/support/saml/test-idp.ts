import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The test IdP (scripts/saml-test-idp.py): Python's standard library and xmlsec1, no code shared
 * with samlify. Keys come from openssl.
 */
const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/saml-test-idp.py');

export interface KeyPair {
  key: string;
  cert: string;
  /** Base64 DER of the certificate, as metadata carries it. */
  certBody: string;
}

/** A throwaway folder with RSA key pairs made by openssl (one per name). */
export function makeKeys(...names: string[]): { pairs: Record<string, KeyPair>; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-saml-idp-'));
  const pairs: Record<string, KeyPair> = {};
  for (const name of names) {
    const key = path.join(dir, `${name}-key.pem`);
    const cert = path.join(dir, `${name}-cert.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], { stdio: 'ignore' });
    pairs[name] = { key, cert, certBody: readFileSync(cert, 'utf8').replace(/-----[^-]+-----|\s/g, '') };
  }
  return { pairs, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What one Response says; see build_response() in the script. Offsets in seconds from now. */
export interface ResponseSpec {
  idp_entity_id: string;
  sp_entity_id: string;
  acs_url: string;
  name_id: string;
  key: string;
  cert: string;
  in_response_to?: string;
  attributes?: Record<string, string | string[]>;
  sign?: 'assertion' | 'response' | 'both' | 'none';
  issuer?: string;
  response_issuer?: string;
  destination?: string;
  recipient?: string;
  audience?: string;
  not_before?: number;
  not_on_or_after?: number;
  confirmation_not_on_or_after?: number;
  now_offset?: number;
  assertion_id?: string;
  response_id?: string;
  authn_context?: string;
  name_id_format?: string;
}

/** The signed Response as XML (xmlsec1 did the signing). */
export function signedResponseXml(spec: ResponseSpec): string {
  return execFileSync('python3', [SCRIPT, 'respond'], { input: JSON.stringify({ ...spec, raw: true }) }).toString().trim();
}

export const base64 = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');

/** IdP metadata naming `base` (the IdP's URL) and the certificate of `pair`. */
export function idpMetadataOf(base: string, pair: KeyPair, options: { wantSignedRequests?: boolean } = {}) {
  return execFileSync('python3', [SCRIPT, 'metadata', '--base', base, '--cert', pair.cert, ...(options.wantSignedRequests ? ['--want-signed-requests'] : [])]).toString().trim();
}

export interface RunningIdp {
  base: string;
  entityId: string;
  metadata(): Promise<string>;
  stop(): void;
}

/** The IdP over HTTP on a free port of 127.0.0.1. */
export async function startTestIdp(pair: KeyPair, options: { wantSignedRequests?: boolean } = {}): Promise<RunningIdp> {
  const child: ChildProcess = spawn('python3', [SCRIPT, 'serve', '--key', pair.key, '--cert', pair.cert, ...(options.wantSignedRequests ? ['--want-signed-requests'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`test IdP exited with ${code}`)));
  });
  return {
    base,
    entityId: `${base}/metadata`,
    metadata: async () => (await fetch(`${base}/metadata`)).text(),
    stop: () => child.kill(),
  };
}

/** The hidden fields of the IdP's auto-post form (SAMLResponse, RelayState). */
export function postFormOf(html: string) {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&').replace(/&#x27;/g, "'").replace(/&quot;/g, '"');
  return { action: action!, SAMLResponse: field('SAMLResponse')!, RelayState: field('RelayState') };
}
