import Provider from 'oidc-provider';
import * as client from 'openid-client';
import { generateKeyPair, exportJWK } from 'jose';
it('loads', async () => {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const p = new Provider('http://localhost:1/t/a', { jwks: { keys: [{ ...jwk, kid: 'k', alg: 'RS256', use: 'sig' }] } });
  expect(p.issuer).toBe('http://localhost:1/t/a');
  expect(typeof client.discovery).toBe('function');
});
