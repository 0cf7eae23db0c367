// Project variables are encrypted at rest with AES-256-GCM under one key kept in a file of
// $GANTRY_HOME (mode 0600): a copy of the database alone (a backup, a dump) reveals no value.
// Every server instance of a fleet must have the same key file.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GantryError } from '../domain/errors.js';

const KEY_BYTES = 32;
const NONCE_BYTES = 12; // GCM's standard nonce; random per encryption (2^-32 collision after 2^32 values)

/** Reads the key file, creating it (0600) with a random key if it does not exist. */
export function loadOrCreateSecretsKey(file: string): Buffer {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    // 'wx': of two processes starting at once, one creates the file and the other reads it.
    fs.writeFileSync(file, `${crypto.randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new GantryError('GANTRY_E_SECRETS', `cannot create the secrets key ${file}: ${(e as Error).message}`);
    }
  }
  let key: Buffer;
  try {
    key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  } catch (e) {
    throw new GantryError('GANTRY_E_SECRETS', `cannot read the secrets key ${file}: ${(e as Error).message}`);
  }
  if (key.length !== KEY_BYTES) {
    throw new GantryError('GANTRY_E_SECRETS', `the secrets key ${file} is not ${KEY_BYTES} bytes of base64`);
  }
  return key;
}

export interface Sealed {
  /** base64 of ciphertext followed by the 16-byte GCM tag */
  ciphertext: string;
  /** base64 of the 12-byte nonce */
  nonce: string;
}

export class SecretBox {
  constructor(private readonly key: Buffer) {}

  /**
   * `context` (project id and key) is bound as additional authenticated data: a ciphertext copied
   * onto another variable or project in the database fails to decrypt instead of leaking there.
   */
  seal(plaintext: string, context: string): Sealed {
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const c = crypto.createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()]);
    return { ciphertext: body.toString('base64'), nonce: nonce.toString('base64') };
  }

  /**
   * A key for another purpose (`purpose` names it), derived from this one, so every instance of a
   * fleet has it without another file to copy: HMAC-SHA256(key, purpose).
   */
  derive(purpose: string): Buffer {
    return crypto.createHmac('sha256', this.key).update(`gantry:${purpose}`, 'utf8').digest();
  }

  open(sealed: Sealed, context: string): string {
    try {
      const body = Buffer.from(sealed.ciphertext, 'base64');
      const d = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(sealed.nonce, 'base64'));
      d.setAAD(Buffer.from(context, 'utf8'));
      d.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
    } catch {
      throw new GantryError('GANTRY_E_SECRETS', 'a stored value cannot be decrypted: wrong secrets key, or the value was altered');
    }
  }
}

/** The authenticated context of one project variable. */
export const variableContext = (projectId: number, key: string): string => `project:${projectId}:variable:${key}`;
