import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/** Who the next login at the bare provider is, and how it goes. */
export interface BareLogin {
  accountId: string;
  /** RFC 8176 methods of that login (the ID token's amr). */
  amr?: string[];
  /** Ends the login with this OAuth error instead (e.g. access_denied). */
  error?: string;
}

export interface BareAccount {
  mail: string;
  email_verified: boolean;
  name: string;
  grp: string[];
}

/**
 * A plain oidc-provider, sharing no code with Gatehouse's configuration: it signs in whoever
 * `next` names without a page (the test decides), with claims under non-standard names (`mail`,
 * `grp`) that a connection's claim_mapping must map. `tamperIdToken` breaks the ID token's
 * signature in token responses.
 */
export class BareProvider {
  next: BareLogin = { accountId: 'nobody' };
  accounts = new Map<string, BareAccount>();
  tamperIdToken = false;
  readonly server: http.Server;
  provider!: Provider;
  issuer = '';

  private constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(client: { client_id: string; client_secret: string; redirect_uris: string[]; token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' }) {
    const bare = new BareProvider();
    await new Promise<void>((resolve) => bare.server.listen(0, '127.0.0.1', resolve));
    bare.issuer = `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}`;
    bare.provider = new Provider(bare.issuer, {
      clients: [{ ...client, grant_types: ['authorization_code'], response_types: ['code'] }],
      findAccount: (_ctx, id) => {
        const account = bare.accounts.get(id);
        return account ? { accountId: id, claims: () => ({ sub: id, ...account }) } : undefined;
      },
      claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], email: ['mail', 'email_verified'], profile: ['name'], groups: ['grp'] },
      scopes: ['openid', 'email', 'profile', 'groups'],
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false } },
      pkce: { required: () => true },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    });
    return bare;
  }

  /** The interaction is answered at once from `next`: login, then consent to what was asked. */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    try {
      if (req.url?.startsWith('/interaction/')) return await this.interact(req, res);
      if (req.url?.startsWith('/token') && this.tamperIdToken) this.tamper(res);
      this.provider.callback()(req, res);
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  }

  private async interact(req: http.IncomingMessage, res: http.ServerResponse) {
    const details = await this.provider.interactionDetails(req, res);
    if (this.next.error) return this.provider.interactionFinished(req, res, { error: this.next.error, error_description: 'refused by the test' });
    if (details.prompt.name === 'login') {
      return this.provider.interactionFinished(req, res, { login: { accountId: this.next.accountId, amr: this.next.amr ?? ['pwd'] } });
    }
    const grant = new this.provider.Grant({ accountId: details.session!.accountId!, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    return this.provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  /** Replaces the ID token's signature in the token response with another of the same length. */
  private tamper(res: http.ServerResponse) {
    const end = res.end.bind(res) as (chunk?: unknown) => http.ServerResponse;
    (res as { end: unknown }).end = (chunk?: unknown) => {
      try {
        const body = JSON.parse(String(chunk));
        if (body.id_token) {
          const [h, p, s] = body.id_token.split('.');
          body.id_token = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
        }
        res.removeHeader('content-length');
        return end(JSON.stringify(body));
      } catch {
        return end(chunk);
      }
    };
  }

  close() {
    this.server.closeAllConnections();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
