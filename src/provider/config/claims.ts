/** DESIGN.md "Scopes and claims". */
export const claims = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name'],
  email: ['email', 'email_verified'],
  roles: ['roles'],
};

export const scopes = ['openid', 'offline_access', 'profile', 'email', 'roles'];
