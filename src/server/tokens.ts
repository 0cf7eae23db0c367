// API tokens: random, shown once (written to a 0600 file), stored only as a hash.
//
// SHA-256 rather than a slow password hash (bcrypt, scrypt, argon2): a token is 256 random bits,
// so guessing one from its hash is infeasible whatever the hash speed; slow hashing protects
// low-entropy human passwords, which these are not. A fast, unsalted hash also lets every request
// find its token with one indexed lookup by hash, instead of trying each stored token.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Store, TokenKind } from '../store/store.js';

export function generateToken(kind: TokenKind): string {
  // The prefix tells a leaked token's kind at a glance (and lets secret scanners find it).
  return `gantry_${kind}_${crypto.randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface BootstrapResult {
  kind: TokenKind;
  file: string;
  /** What happened: a new token was made, a given one was registered, or the store already had one. */
  outcome: 'generated' | 'registered' | 'exists-elsewhere';
}

function writeSecretFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${text}\n`, { mode: 0o600 });
  // The mode given to writeFileSync is filtered by the umask; chmod makes it exactly 0600.
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/**
 * Makes sure a token of `kind` exists on first start. A token given in the environment, or one
 * already in `$GANTRY_HOME/<kind>.token`, is registered (its hash added if missing). Otherwise, if
 * the store has no token of that kind, one is generated and written to the file. If the store has
 * one but this home has no file (another instance of a fleet made it), nothing is generated.
 */
export async function bootstrapToken(
  store: Store,
  home: string,
  kind: 'admin' | 'agent',
  given: string | null,
  now: number,
): Promise<BootstrapResult> {
  const file = path.join(home, `${kind}.token`);
  let token = given;
  if (token === null && fs.existsSync(file)) token = fs.readFileSync(file, 'utf8').trim() || null;
  if (token !== null) {
    await store.addToken({ hash: hashToken(token), kind, projectId: null, createdAt: now });
    const onDisk = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : null;
    if (onDisk !== token) writeSecretFile(file, token);
    else fs.chmodSync(file, 0o600);
    return { kind, file, outcome: 'registered' };
  }
  if ((await store.countTokens(kind)) > 0) return { kind, file, outcome: 'exists-elsewhere' };
  const fresh = generateToken(kind);
  await store.addToken({ hash: hashToken(fresh), kind, projectId: null, createdAt: now });
  writeSecretFile(file, fresh);
  return { kind, file, outcome: 'generated' };
}
