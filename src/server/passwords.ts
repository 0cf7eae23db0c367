// Passwords of local users: scrypt, a memory-hard hash, with a random salt per password, stored as
// one self-describing string so the parameters can be raised later without a migration:
//
//   $scrypt$ln=15,r=8,p=1$<salt, base64>$<hash, base64>
//
// (the PHC string format: `ln` is log2 of N). N = 2^15, r = 8, p = 1 make one hash take 32 MiB of
// memory (128 * N * r bytes) and some 50-100 ms of one core, which is what the scrypt paper and
// OWASP's password storage guidance recommend for interactive sign-in; memory is what makes
// guessing on GPUs and ASICs expensive. node's crypto.scrypt runs in libuv's thread pool, off the
// event loop. A stored hash with other parameters still verifies, and is replaced by one with the
// current parameters at the next successful sign-in (needsRehash).
//
// Tokens are hashed with SHA-256 instead (src/server/tokens.ts): they are 256 random bits, which no
// hash speed makes guessable; passwords are chosen by people.

import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { ApiError } from './errors.js';

const scrypt = promisify(crypto.scrypt) as (password: crypto.BinaryLike, salt: crypto.BinaryLike, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

export interface ScryptParams {
  /** log2 of N, the CPU/memory cost. */
  ln: number;
  r: number;
  p: number;
}

export const SCRYPT_PARAMS: ScryptParams = { ln: 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** People's passwords: at least this many characters (NIST SP 800-63B asks for 8; we ask for more, and nothing else). */
export const MIN_PASSWORD_LENGTH = 12;
/** Far above any passphrase; keeps a request from making the server hash megabytes. */
export const MAX_PASSWORD_LENGTH = 1024;

const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  // Node refuses (about) 128 * N * r bytes above maxmem, whose default is exactly 32 MiB.
  return scrypt(password.normalize('NFC'), salt, length, { N, r: params.r, p: params.p, maxmem: 256 * N * params.r });
}

/** Refuses a password shorter than MIN_PASSWORD_LENGTH characters (code points, after NFC). */
export function checkPasswordPolicy(password: string, field = 'body.password'): void {
  const length = [...password.normalize('NFC')].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new ApiError('GANTRY_E_PASSWORD_TOO_SHORT', `a password needs at least ${MIN_PASSWORD_LENGTH} characters; this one has ${length}`, { field });
  }
}

export async function hashPassword(password: string, params: ScryptParams = SCRYPT_PARAMS): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, HASH_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** True when the password matches; the comparison takes the same time wherever the first difference is. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = FORMAT.exec(stored);
  if (!m) return false;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  const expected = Buffer.from(m[5]!, 'base64');
  if (params.ln < 1 || params.ln > 24 || expected.length < 16) return false;
  const actual = await derive(password, Buffer.from(m[4]!, 'base64'), params, expected.length);
  return crypto.timingSafeEqual(actual, expected);
}

/** A stored hash made with other parameters than today's: rehash it at the next successful sign-in. */
export function needsRehash(stored: string, params: ScryptParams = SCRYPT_PARAMS): boolean {
  return !stored.startsWith(`$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$`);
}

let dummy: Promise<string> | null = null;
/**
 * A hash of a random password with today's parameters. Sign-in verifies against it when the user
 * does not exist, so an unknown user costs the same hashing time as a wrong password and the
 * answer's timing does not tell which usernames exist.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(crypto.randomBytes(24).toString('base64url'));
  return dummy;
}

/** A random password for the first admin user: 24 characters of base64url, 144 bits. */
export function generatePassword(): string {
  return crypto.randomBytes(18).toString('base64url');
}
