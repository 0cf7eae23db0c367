// The identity token keys (src/store/id-token-keys.ts) over any SqlDialect.

import type { AuditFor } from '../audit.js';
import type { IdTokenKey, IdTokenKeyStore } from '../id-token-keys.js';
import type { EpochMs } from '../store.js';
import { audited } from './audit.js';
import type { SqlDialect } from './dialect.js';
import { num } from './rows.js';

interface KeyRow {
  generation: number | string;
  kid: string;
  alg: string;
  public_jwk: string;
  private_ciphertext: string;
  private_nonce: string;
  created_at: number | string;
  last_exp: number | string;
}
const COLUMNS = 'generation, kid, alg, public_jwk, private_ciphertext, private_nonce, created_at, last_exp';

const toKey = (r: KeyRow): IdTokenKey => ({
  generation: num(r.generation),
  kid: r.kid,
  alg: r.alg,
  publicJwk: r.public_jwk,
  privateKey: { ciphertext: r.private_ciphertext, nonce: r.private_nonce },
  createdAt: num(r.created_at),
  lastExp: num(r.last_exp),
});

export class SqlIdTokenKeyStore implements IdTokenKeyStore {
  constructor(private readonly db: SqlDialect) {}

  async current(): Promise<IdTokenKey | null> {
    const row = await this.db.get<KeyRow>(`SELECT ${COLUMNS} FROM id_token_keys ORDER BY generation DESC LIMIT 1`);
    return row ? toKey(row) : null;
  }

  add(key: Omit<IdTokenKey, 'lastExp'>, audit?: AuditFor<boolean>): Promise<boolean> {
    // The generation's PRIMARY KEY decides a race: DO NOTHING leaves the loser's insert out.
    return audited(this.db, audit, async (x) => {
      const r = await x.run(
        'INSERT INTO id_token_keys (generation, kid, alg, public_jwk, private_ciphertext, private_nonce, created_at, last_exp) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (generation) DO NOTHING',
        [key.generation, key.kid, key.alg, key.publicJwk, key.privateKey.ciphertext, key.privateKey.nonce, key.createdAt],
      );
      return r.changes === 1;
    });
  }

  async noteSigning(kid: string, exp: EpochMs): Promise<boolean> {
    const r = await this.db.run('UPDATE id_token_keys SET last_exp = CASE WHEN last_exp < ? THEN ? ELSE last_exp END WHERE kid = ?', [exp, exp, kid]);
    return r.changes === 1;
  }

  async published(now: EpochMs): Promise<IdTokenKey[]> {
    const rows = await this.db.all<KeyRow>(
      `SELECT ${COLUMNS} FROM id_token_keys WHERE last_exp > ? OR generation = (SELECT MAX(generation) FROM id_token_keys) ORDER BY generation DESC`,
      [now],
    );
    return rows.map(toKey);
  }

  async prune(now: EpochMs): Promise<number> {
    const r = await this.db.run('DELETE FROM id_token_keys WHERE last_exp <= ? AND generation < (SELECT MAX(generation) FROM id_token_keys)', [now]);
    return r.changes;
  }
}
