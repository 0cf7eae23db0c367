// The OpenID Connect relying party, over openid-client (a maintained, certified client library:
// nothing of the protocol's checks is written here). The authorization code flow with PKCE (S256),
// `state` and `nonce`: openid-client checks the state, the ID token's signature (the provider's
// published keys), issuer, audience, expiry and nonce, and the `iss` of the answer where the
// provider sends one (RFC 9207). The provider's discovery document is read at the first sign-in,
// not at start (a provider that is down does not keep the server from starting), and kept.

import * as client from 'openid-client';
import { ApiError } from '../errors.js';
import type { SsoSettings } from './settings.js';

/** A sign-in's secrets, made at its start, kept by the store until the callback. */
export interface FlowSecrets {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** The claims the provider vouched for: the ID token's, completed by the userinfo endpoint's. */
export type Claims = Record<string, unknown> & { sub: string };

function unavailable(settings: SsoSettings, err: unknown): ApiError {
  const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new ApiError('GANTRY_E_SSO_UNAVAILABLE', `the sign-in provider ${settings.name} (${settings.issuer}) could not be reached: ${why}`);
}

/** A network failure (refused, reset, timed out) rather than an answer the protocol refuses. */
function isNetworkFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return true;
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}

export class OidcClient {
  private config: Promise<client.Configuration> | null = null;

  constructor(private readonly settings: SsoSettings) {}

  /** The provider's configuration: discovered once, again after a failure. */
  private configuration(): Promise<client.Configuration> {
    const s = this.settings;
    this.config ??= client
      .discovery(
        new URL(s.issuer),
        s.clientId,
        s.clientSecret ?? undefined,
        s.clientSecret === null ? client.None() : undefined,
        { timeout: 10, ...(s.allowInsecureRequests ? { execute: [client.allowInsecureRequests] } : {}) },
      )
      .catch((err: unknown) => {
        this.config = null;
        throw unavailable(s, err);
      });
    return this.config;
  }

  /** A new sign-in: its secrets, and the provider's URL to send the browser to. */
  async begin(redirectUri: string): Promise<{ secrets: FlowSecrets; url: string }> {
    const config = await this.configuration();
    const secrets = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.settings.scopes.join(' '),
      response_type: 'code',
      state: secrets.state,
      nonce: secrets.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(secrets.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { secrets, url: url.href };
  }

  /**
   * The provider's answer at the callback (`query`: the request's query string) exchanged for
   * verified claims. The redirect URI is the configured one, not the request's own URL, which
   * behind a proxy is not what the provider was told.
   */
  async complete(redirectUri: string, query: string, secrets: FlowSecrets): Promise<Claims> {
    const config = await this.configuration();
    const current = new URL(redirectUri);
    current.search = query;
    try {
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: secrets.codeVerifier,
        expectedState: secrets.state,
        expectedNonce: secrets.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) throw new ApiError('GANTRY_E_SSO_FAILED', 'the provider answered without an ID token');
      const claims: Claims = { ...idClaims } as Claims;
      // Many providers put email, groups and names only in the userinfo answer (the ID token carries
      // them only when no access token is issued, per OpenID Connect Core 5.4). fetchUserInfo
      // checks that its `sub` is the ID token's; the ID token's own claims win.
      if (config.serverMetadata().userinfo_endpoint && tokens.access_token) {
        const info = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
        for (const [k, v] of Object.entries(info)) if (!(k in claims)) claims[k] = v;
      }
      return claims;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (isNetworkFailure(err)) throw unavailable(this.settings, err);
      throw new ApiError('GANTRY_E_SSO_FAILED', `the sign-in with ${this.settings.name} could not be completed: ${describe(err)}`);
    }
  }
}

/** The provider's error words (`error`, `error_description`) or the check that failed. */
function describe(err: unknown): string {
  if (err instanceof client.AuthorizationResponseError || err instanceof client.ResponseBodyError) {
    return err.error_description ? `${err.error}: ${err.error_description}` : err.error;
  }
  if (!(err instanceof Error)) return String(err);
  // openid-client's own words are general ("invalid response encountered"); the check that failed is its cause.
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}
