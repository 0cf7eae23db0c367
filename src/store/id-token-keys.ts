// The keys job identity tokens are signed with (docs/SECURITY.md, "Job identity tokens"). They
// live in the store, not in a file of one server's home, so every instance of a fleet signs with
// the same key and publishes the same set. The private half is only ever stored sealed
// (src/server/secrets.ts); src/server/id-tokens.ts makes, rotates and uses them.

import type { AuditFor } from './audit.js';
import type { EpochMs, SealedSecret } from './store.js';

export interface IdTokenKey {
  /** 1, 2, ...: the key of the highest generation signs; a rotation adds the next one. */
  generation: number;
  /** The JWK's `kid`, in every token's header. */
  kid: string;
  alg: string;
  /** The public JWK, JSON. */
  publicJwk: string;
  /** The private key (PKCS#8 PEM), sealed. */
  privateKey: SealedSecret;
  createdAt: EpochMs;
  /** The latest `exp` (ms) of a token it signed; 0 if none. */
  lastExp: EpochMs;
}

export interface IdTokenKeyStore {
  /** The signing key: the highest generation; null before the first. */
  current(): Promise<IdTokenKey | null>;
  /**
   * Adds a key if its generation is not taken; false when another instance (or call) added that
   * generation first. `audit` records a rotation asked for by a person.
   */
  add(key: Omit<IdTokenKey, 'lastExp'>, audit?: AuditFor<boolean>): Promise<boolean>;
  /**
   * Records that the key is about to sign a token living until `exp` (ms), before it does, so the
   * key stays published until then. False when the key is gone (pruned meanwhile): sign with the
   * current one instead.
   */
  noteSigning(kid: string, exp: EpochMs): Promise<boolean>;
  /** The keys a verifier needs at `now`: the current one and every one whose tokens may still live; newest first. */
  published(now: EpochMs): Promise<IdTokenKey[]>;
  /** Deletes the keys that neither sign nor have a living token at `now`; how many. */
  prune(now: EpochMs): Promise<number>;
}
