/**
 * Clients that are part of Gatehouse itself and exist in every tenant: served from code by the
 * provider's client adapter, never stored, so the admin API neither lists nor deletes nor edits
 * them, and a tenant created or started at any time has them at once.
 */
export const ACCOUNT_CLIENT_ID = 'gatehouse-account';

export const isBuiltinClientId = (clientId: string) => clientId === ACCOUNT_CLIENT_ID;

/**
 * The account pages (`${issuer}/account`) sign in as this client through the tenant's own login.
 * A public client (PKCE, no secret): the code is only ever delivered to Gatehouse's own callback,
 * and the verifier lives in that browser's sealed login cookie. Only `openid` and no refresh
 * token: the account pages read the user from the database, and their session is the cookie.
 */
export function builtinClients(issuer: string): Record<string, Record<string, unknown>> {
  return {
    [ACCOUNT_CLIENT_ID]: {
      client_id: ACCOUNT_CLIENT_ID,
      client_name: 'Your account',
      redirect_uris: [`${issuer}/account/callback`],
      post_logout_redirect_uris: [],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      // The fresh-proof rule of the account pages reads auth_time.
      require_auth_time: true,
    },
  };
}
