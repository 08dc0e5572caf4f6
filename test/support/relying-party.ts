import * as oidc from 'openid-client';
import { Browser, csrfOf } from './browser.js';

export interface RpOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
}

/** How a test answers the steps after the password. */
export interface MfaAnswers {
  /** The code for the code form (TOTP or recovery code). */
  code?: () => string;
  /** Called with the base32 seed shown on the enrollment page. */
  enrolled?: (secret: string) => void;
  /** The code that proves the seed at enrollment. */
  enrollCode?: (secret: string) => string;
  /** Called with the recovery codes shown (empty after a recovery login) and the page. */
  recoveryCodes?: (codes: string[], html: string) => void;
}

/** openid-client as the relying party, with a browser that fills in Gatehouse's pages. */
export class RelyingParty {
  browser = new Browser();
  /** Sends the authorization request's parameters to the PAR endpoint first (RFC 9126). */
  pushed = false;
  private constructor(readonly config: oidc.Configuration, readonly options: RpOptions) {}

  static async discover(options: RpOptions) {
    const auth = options.clientSecret ? oidc.ClientSecretBasic(options.clientSecret) : oidc.None();
    const config = await oidc.discovery(new URL(options.issuer), options.clientId, options.clientSecret, auth, { execute: [oidc.allowInsecureRequests] });
    return new RelyingParty(config, options);
  }

  async startLogin(params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const build = this.pushed ? oidc.buildAuthorizationUrlWithPAR : oidc.buildAuthorizationUrl;
    const url = await build(this.config, {
      redirect_uri: this.options.redirectUri,
      scope: 'openid profile email offline_access',
      prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      ...params,
    });
    const origin = new URL(this.options.issuer).origin;
    const { res, url: at } = await this.browser.follow(url.toString(), origin);
    return { res, at, url, verifier, state, html: res.status === 200 ? await res.text() : '' };
  }

  /** Authorize → login page → consent page → callback → token endpoint. */
  async login(user: { email: string; password: string }, params: Record<string, string> = {}, mfa: MfaAnswers = {}) {
    const { callback, verifier, state } = await this.authorize(user, params, mfa);
    return this.redeem(callback, verifier, state, params);
  }

  redeem(callback: URL, verifier: string, state: string, params: Record<string, string> = {}) {
    return oidc.authorizationCodeGrant(this.config, callback, { pkceCodeVerifier: verifier, expectedState: state }, params.resource ? { resource: params.resource } : undefined);
  }

  /**
   * Authorize → login page → second-factor steps → consent page, stopping at the callback that
   * carries the code. `mfa` answers the steps after the password (see MfaAnswers).
   */
  async authorize(user: { email: string; password: string }, params: Record<string, string> = {}, mfa: MfaAnswers = {}) {
    const origin = new URL(this.options.issuer).origin;
    const start = await this.startLogin(params);
    let { html, at } = start;
    const go = async (res: Response) => {
      if (res.status !== 303) throw Object.assign(new Error(`login refused: ${res.status}`), { status: res.status, html: await res.text() });
      const next = await this.browser.follow(new URL(res.headers.get('location')!, at).toString(), origin);
      at = next.url;
      html = next.res.status === 200 ? await next.res.text() : '';
    };
    if (html.includes('name="password"')) await go(await this.browser.post(`${at}/login`, { csrf: csrfOf(html), email: user.email, password: user.password }));
    for (let i = 0; i < 4; i++) {
      const secret = /data-testid="totp-secret">([A-Z2-7]+)</.exec(html)?.[1];
      if (secret) {
        mfa.enrolled?.(secret);
        const res = await this.browser.post(`${at}/enroll`, { csrf: csrfOf(html), code: mfa.enrollCode ? mfa.enrollCode(secret) : '' });
        if (res.status !== 200) throw Object.assign(new Error(`enrollment refused: ${res.status}`), { status: res.status });
        html = await res.text();
      }
      if (/interaction\/[^"]+\/continue"/.test(html)) {
        mfa.recoveryCodes?.([...html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]), html);
        await go(await this.browser.post(`${at}/continue`, { csrf: csrfOf(html), continue: '1' }));
        continue;
      }
      if (html.includes('action="') && /interaction\/[^"]+\/mfa"/.test(html)) {
        await go(await this.browser.post(`${at}/mfa`, { csrf: csrfOf(html), code: mfa.code ? mfa.code() : '' }));
        continue;
      }
      break;
    }
    if (html.includes('name="decision"')) {
      const res = await this.browser.post(`${at}/confirm`, { csrf: csrfOf(html), decision: 'allow' });
      const next = await this.browser.follow(new URL(res.headers.get('location')!, at).toString(), origin);
      at = next.url;
    }
    if (!at.startsWith(this.options.redirectUri)) throw new Error(`login did not reach the callback: ${at}`);
    return { callback: new URL(at), verifier: start.verifier, state: start.state, url: start.url };
  }

  refresh(refreshToken: string, params?: Record<string, string>) {
    return oidc.refreshTokenGrant(this.config, refreshToken, params);
  }

  userinfo(accessToken: string, sub: string) {
    return oidc.fetchUserInfo(this.config, accessToken, sub);
  }

  introspect(token: string) {
    return oidc.tokenIntrospection(this.config, token);
  }

  revoke(token: string) {
    return oidc.tokenRevocation(this.config, token);
  }

  clientCredentials(params: Record<string, string>) {
    return oidc.clientCredentialsGrant(this.config, params);
  }
}
