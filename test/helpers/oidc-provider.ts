// A real OpenID Connect provider on loopback for the single sign-on tests: oidc-provider (the
// certified Node.js implementation) with one confidential client and accounts whose claims a test
// sets and changes (email, email_verified, preferred_username, groups). Its development
// interactions are the sign-in pages (a form: any password goes); consent is taken as given, as a
// company's provider does for its own applications. Also: a cookie jar and a driver that follows a
// sign-in through both servers over HTTP, submitting the provider's forms.

import http from 'node:http';
import Provider from 'oidc-provider';

export interface TestAccount {
  email?: string;
  email_verified?: boolean | string;
  preferred_username?: string;
  groups?: string[];
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by `sub` (the login typed into the provider's form); change them between sign-ins. */
  accounts: Map<string, TestAccount>;
  close(): Promise<void>;
}

export async function startTestProvider(port: number, redirectUris: string[]): Promise<TestProvider> {
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map<string, TestAccount>();
  const clientId = 'gantry-test';
  const clientSecret = 'a-client-secret-for-tests-only-0123456789';
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    pkce: { required: () => true },
    ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx: unknown, sub: string) {
      if (!accounts.has(sub)) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...accounts.get(sub) }) };
    },
    // Consent is given: an organisation's provider asks nobody to approve its own applications.
    async loadExistingGrant(ctx: {
      oidc: { client: { clientId: string }; session: { accountId: string; grantIdFor(c: string): string | undefined }; provider: { Grant: GrantClass } };
    }) {
      const { client, session, provider: p } = ctx.oidc;
      const existing = session.grantIdFor(client.clientId);
      if (existing) return p.Grant.find(existing);
      const grant = new p.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  const server = http.createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface GrantInstance {
  addOIDCScope(scope: string): void;
  save(): Promise<string>;
}
interface GrantClass {
  new (init: { clientId: string; accountId: string }): GrantInstance;
  find(id: string): Promise<GrantInstance | undefined>;
}

/** Cookies by name (both servers are on 127.0.0.1, and a browser does not tell ports apart either). */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone = value === '' || attrs.some((a) => /^\s*max-age=(0|-)/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: this.header() } });
    this.take(res);
    return res;
  }
}

export interface SignInTrace {
  /** The last answer: Gantry's redirect into the UI, or a page that stopped the sign-in. */
  last: Response;
  /** The URL the provider sent the browser back to (code, state), as it was. */
  callbackUrl: string | null;
  /** The flow cookie the browser held when it went to the callback. */
  flowCookie: string | null;
}

/**
 * Signs in from `startUrl` as `login` at the provider, following redirects and submitting the
 * provider's forms. `beforeCallback` may rewrite the callback URL (a forged state, another instance).
 */
export async function driveSignIn(jar: CookieJar, startUrl: string, login: string, beforeCallback: (url: string) => string = (u) => u): Promise<SignInTrace> {
  let url = startUrl;
  let init: RequestInit = {};
  let callbackUrl: string | null = null;
  let flowCookie: string | null = null;
  for (let step = 0; step < 20; step++) {
    if (url.includes('/api/v1/session/oidc/callback')) {
      callbackUrl = url;
      flowCookie = jar.cookies.get('gantry_sso') ?? null;
      url = beforeCallback(url);
    }
    const res = await jar.fetch(url, init);
    init = {};
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const nextUrl = new URL(location, url).href;
      // Back in Gantry, past its own sign-in routes: done.
      if (url.includes('/api/v1/session/oidc/callback')) return { last: res, callbackUrl, flowCookie };
      url = nextUrl;
      continue;
    }
    const html = res.headers.get('content-type')?.includes('text/html') ? await res.text() : '';
    const form = /<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(html);
    if (res.status !== 200 || !form || url.includes('/api/v1/')) return { last: new Response(html || null, { status: res.status, headers: res.headers }), callbackUrl, flowCookie };
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*>/g)) {
      const name = m[1]!;
      const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? '';
      fields.set(name, name === 'login' ? login : name === 'password' ? 'any-password' : value);
    }
    url = new URL(form[1]!.replace(/&amp;/g, '&'), url).href;
    init = { method: 'POST', body: fields.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  throw new Error(`the sign-in did not end within 20 steps (at ${url})`);
}
