// Turns a blob store location into a BlobStore: a directory path, or `s3://BUCKET[/PREFIX]` with
// the GANTRY_S3_* settings. The one place the kind of store is chosen.

import path from 'node:path';
import type { S3Config } from '../config/config.js';
import { GantryError } from '../domain/errors.js';
import type { BlobStore } from './blob-store.js';
import { DirBlobStore } from './dir-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

/**
 * `location` is a directory (relative to the working directory), or `s3://BUCKET[/PREFIX]`; an
 * S3 store spools its uploads in `spoolDir`. Throws GANTRY_E_USAGE for anything it cannot use.
 */
export function openBlobStore(location: string, s3: S3Config, spoolDir: string): BlobStore {
  if (location.startsWith('s3://')) return openS3(location, s3, spoolDir);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new GantryError('GANTRY_E_USAGE', `blob store "${location}" is not supported: use a directory or s3://BUCKET/PREFIX`);
  }
  return new DirBlobStore(path.resolve(location));
}

function openS3(location: string, s3: S3Config, spoolDir: string): S3BlobStore {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(location);
  const bucket = m?.[1] ?? '';
  // S3's rules are stricter (3-63 lowercase characters); old AWS buckets and other servers allow more.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(bucket)) {
    throw new GantryError('GANTRY_E_USAGE', `"${location}" does not name a bucket: use s3://BUCKET or s3://BUCKET/PREFIX`);
  }
  const rest = (m?.[2] ?? '').replace(/^\/+|\/+$/g, '');
  const prefix = rest === '' ? '' : `${rest}/`;
  if (!s3.accessKeyId || !s3.secretAccessKey) {
    throw new GantryError(
      'GANTRY_E_USAGE',
      `${location} needs credentials: set GANTRY_S3_ACCESS_KEY_ID and GANTRY_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`,
    );
  }
  const endpoint = s3.endpoint ?? `https://s3.${s3.region}.amazonaws.com`;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new GantryError('GANTRY_E_USAGE', `GANTRY_S3_ENDPOINT "${endpoint}" is not a URL: use http(s)://HOST[:PORT]`);
  }
  if (url.username || url.password) {
    // Not echoed: it holds a secret.
    throw new GantryError('GANTRY_E_USAGE', 'GANTRY_S3_ENDPOINT must not carry credentials: use GANTRY_S3_ACCESS_KEY_ID and GANTRY_S3_SECRET_ACCESS_KEY');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search) {
    throw new GantryError('GANTRY_E_USAGE', `GANTRY_S3_ENDPOINT "${endpoint}" is not an http(s)://HOST[:PORT] URL`);
  }
  return new S3BlobStore({
    bucket,
    prefix,
    endpoint,
    region: s3.region,
    // Self-hosted servers are usually reached by path (no wildcard DNS for bucket names); AWS by host.
    pathStyle: s3.pathStyle ?? s3.endpoint !== null,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, sessionToken: s3.sessionToken },
    timeoutMs: s3.timeoutMs,
    spoolDir,
  });
}
