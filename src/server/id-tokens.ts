// Job identity tokens (GitLab's `id_tokens`, docs/API.md "Job identity tokens"): a JWT per token a
// job asks for, signed by the server when the job is offered to an agent, never stored. A cloud
// provider or Vault that trusts this server's issuer (its OpenID discovery document and key set,
// served by routes/id-tokens.ts) exchanges it for short-lived credentials bound to its claims.
//
// RS256 (RSA 2048, SHA-256): what GitLab and GitHub Actions sign with, and the one algorithm every
// relying party accepts (AWS IAM, GCP workload identity, Azure workload identity federation, which
// takes RS256 only, Vault, Kubernetes). ES256 would give smaller tokens and faster keys, at the cost
// of some of those.
//
// Keys are rows of the store (src/store/id-token-keys.ts), the private half sealed with secrets.key:
// every instance of a fleet signs with the key of the highest generation and publishes the same
// set. A rotation (every `rotateAfterMs`, or asked by an admin) adds the next generation; the old
// key is published until the last token it signed expires (`last_exp`, written before signing).

import crypto from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, importPKCS8, SignJWT, calculateJwkThumbprint, type JWK } from 'jose';
import { GantryError } from '../domain/errors.js';
import type { AuditFor } from '../store/audit.js';
import type { IdTokenKey } from '../store/id-token-keys.js';
import type { Store } from '../store/store.js';
import type { SecretBox } from './secrets.js';

export const ID_TOKEN_ALG = 'RS256';
/** GitLab's: `nbf` is 5 s before `iat`, for relying parties whose clock is a little behind. */
const NOT_BEFORE_LEEWAY_S = 5;
/** As GitLab: a new key when the current one is this old (GANTRY_ID_TOKEN_KEY_DAYS); null: only by hand. */
export const DEFAULT_ROTATE_AFTER_MS = 30 * 24 * 3600_000;
/** Where the key set is published (GitLab's path, so tools that guess it find it). */
export const JWKS_PATH = '/oauth/discovery/keys';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

export interface IdTokenSettings {
  /** The `iss` of every token and the discovery document: the server's external URL, no trailing slash. */
  issuer: () => string;
  /** A new key when the current one is this old; null: only on an admin's rotation. */
  rotateAfterMs: number | null;
}

/** The claims of one job's tokens, GitLab's names and shapes (ids and booleans as strings, as GitLab writes them). */
export interface JobClaims {
  sub: string;
  project_id: string;
  project_path: string;
  ref: string;
  ref_type: 'branch' | 'tag';
  ref_path: string;
  ref_protected: 'true' | 'false';
  pipeline_id: string;
  pipeline_source: string;
  job_id: string;
  sha: string;
  user_login?: string;
  environment?: string;
  environment_protected?: 'true' | 'false';
  runner_environment: 'self-hosted';
}

const keyContext = (kid: string): string => `id-token-key:${kid}`;

export class IdTokenIssuer {
  /** Private keys by kid, imported once: a key's material never changes. */
  private readonly privateKeys = new Map<string, CryptoKey>();
  private rotating: Promise<IdTokenKey> | null = null;

  constructor(
    private readonly store: Store,
    private readonly secrets: SecretBox,
    private readonly settings: IdTokenSettings,
    private readonly now: () => number,
  ) {}

  get issuer(): string {
    return this.settings.issuer();
  }

  /** The signing key, made or rotated first when there is none or it is due. */
  async signingKey(): Promise<IdTokenKey> {
    const current = await this.store.idTokenKeys.current();
    const due = this.settings.rotateAfterMs !== null && current !== null && this.now() - current.createdAt >= this.settings.rotateAfterMs;
    if (current && !due) return current;
    // Of concurrent callers on this instance one makes the key; other instances race in the store.
    this.rotating ??= this.addKey(current?.generation ?? 0).finally(() => (this.rotating = null));
    return this.rotating;
  }

  /** Starts signing with a new key now (an admin's rotation); the old one stays published while its tokens live. */
  async rotate(audit?: AuditFor<boolean>): Promise<IdTokenKey> {
    const current = await this.store.idTokenKeys.current();
    return this.addKey(current?.generation ?? 0, audit);
  }

  /** Makes the key of generation `after + 1`; if another instance made it first, that one is the answer. */
  private async addKey(after: number, audit?: AuditFor<boolean>): Promise<IdTokenKey> {
    try {
      const { publicKey, privateKey } = await generateKeyPair(ID_TOKEN_ALG, { modulusLength: 2048, extractable: true });
      const jwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(jwk);
      const publicJwk = JSON.stringify({ ...jwk, kid, alg: ID_TOKEN_ALG, use: 'sig' });
      const sealed = this.secrets.seal(await exportPKCS8(privateKey), keyContext(kid));
      await this.store.idTokenKeys.add({ generation: after + 1, kid, alg: ID_TOKEN_ALG, publicJwk, privateKey: sealed, createdAt: this.now() }, audit);
    } catch (e) {
      if (e instanceof GantryError) throw e;
      throw new GantryError('GANTRY_E_ID_TOKEN', `a new identity token key cannot be made: ${(e as Error).message}`);
    }
    const current = await this.store.idTokenKeys.current();
    if (!current) throw new GantryError('GANTRY_E_ID_TOKEN', 'the identity token key just added is not in the store');
    return current;
  }

  private async privateKeyOf(key: IdTokenKey): Promise<CryptoKey> {
    let k = this.privateKeys.get(key.kid);
    if (!k) {
      // A wrong secrets.key or an altered row is GANTRY_E_SECRETS: nothing is signed.
      const pem = this.secrets.open(key.privateKey, keyContext(key.kid));
      k = await importPKCS8(pem, key.alg);
      this.privateKeys.set(key.kid, k);
    }
    return k;
  }

  /**
   * One token per entry of `audiences` (variable name -> aud), all living `lifetimeSeconds` from
   * now. The key is marked as signing until their `exp` before any is signed, so a key set read at
   * any moment after has it.
   */
  async mint(claims: JobClaims, audiences: Record<string, string | string[]>, lifetimeSeconds: number): Promise<Record<string, string>> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + Math.max(1, Math.floor(lifetimeSeconds));
    let key = await this.signingKey();
    // The key could have been pruned between the read and the mark (it was superseded meanwhile): take the new one.
    for (let i = 0; !(await this.store.idTokenKeys.noteSigning(key.kid, exp * 1000)); i++) {
      if (i >= 3) throw new GantryError('GANTRY_E_ID_TOKEN', 'no identity token key stays in the store long enough to sign with');
      key = await this.signingKey();
    }
    const privateKey = await this.privateKeyOf(key);
    const out: Record<string, string> = {};
    for (const [name, aud] of Object.entries(audiences)) {
      out[name] = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
        .setIssuer(this.issuer)
        .setAudience(aud)
        .setIssuedAt(iat)
        .setNotBefore(iat - NOT_BEFORE_LEEWAY_S)
        .setExpirationTime(exp)
        .setJti(crypto.randomUUID())
        .sign(privateKey);
    }
    return out;
  }

  /** The published key set: the signing key and every key with a living token. */
  async jwks(): Promise<{ keys: JWK[] }> {
    let keys = await this.store.idTokenKeys.published(this.now());
    // A server that never signed still publishes the key it will sign with.
    if (keys.length === 0) keys = [await this.signingKey()];
    return { keys: keys.map((k) => JSON.parse(k.publicJwk) as JWK) };
  }

  /** The OpenID Connect discovery document: what a relying party reads first. */
  discovery(): Record<string, unknown> {
    const iss = this.issuer;
    return {
      issuer: iss,
      jwks_uri: `${iss}${JWKS_PATH}`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [ID_TOKEN_ALG],
      claims_supported: [
        'iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'project_id', 'project_path', 'ref', 'ref_type', 'ref_path', 'ref_protected',
        'pipeline_id', 'pipeline_source', 'job_id', 'sha', 'user_login', 'environment', 'environment_protected', 'runner_environment',
      ],
      scopes_supported: ['openid'],
    };
  }

  /** Deletes keys that neither sign nor have a living token (hourly). */
  prune(): Promise<number> {
    return this.store.idTokenKeys.prune(this.now());
  }
}

/** An issuer is a URL without a trailing slash: the `iss` relying parties compare byte for byte. */
export function normalizeIssuer(url: string): string {
  return url.replace(/\/+$/, '');
}
