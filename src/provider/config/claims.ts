/** DESIGN.md "Scopes and claims". */
export const claims = {
  // OIDC Core §2: the ID Token says how the user authenticated (acr, amr per RFC 8176, auth_time),
  // from the session; oidc-provider lets through only the claims of a granted scope.
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  profile: ['name', 'given_name', 'family_name'],
  email: ['email', 'email_verified'],
  roles: ['roles'],
};

export const scopes = ['openid', 'offline_access', 'profile', 'email', 'roles'];
