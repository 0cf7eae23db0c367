// Choosing the log object store from the environment: GANTRY_LOG_OBJECTS and GANTRY_S3_* as
// loadConfig reads them, and what openBlobStore makes of them (or refuses, saying why).

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { openBlobStore } from '../../src/blobstore/open.js';
import { S3BlobStore } from '../../src/blobstore/s3-blob-store.js';
import { loadConfig } from '../../src/config/config.js';

const KEYS = { GANTRY_S3_ACCESS_KEY_ID: 'AKID', GANTRY_S3_SECRET_ACCESS_KEY: 'very-secret' };

function open(env: Record<string, string>) {
  const config = loadConfig({ GANTRY_HOME: '/tmp/gantry-home', ...env }, false);
  return { config, store: openBlobStore(config.server.logObjects ?? '/tmp/gantry-home/log-objects', config.server.s3, '/tmp/spool') };
}

describe('the log object store from the environment', () => {
  it('is a directory by default, or the directory GANTRY_LOG_OBJECTS names', () => {
    assert.equal((open({}).store as DirBlobStore).root, '/tmp/gantry-home/log-objects');
    assert.equal((open({ GANTRY_LOG_OBJECTS: 'rel/objects' }).store as DirBlobStore).root, path.resolve('rel/objects'));
  });

  it('is a bucket for s3://BUCKET/PREFIX: AWS by default (virtual-hosted), path-style with an endpoint', () => {
    const aws = open({ GANTRY_LOG_OBJECTS: 's3://my-logs/ci/gantry/', GANTRY_S3_REGION: 'eu-west-1', ...KEYS }).store;
    assert.ok(aws instanceof S3BlobStore);
    assert.equal(aws.location, 's3://my-logs/ci/gantry/');
    assert.equal(aws.endpoint, 'https://s3.eu-west-1.amazonaws.com');
    const minio = open({ GANTRY_LOG_OBJECTS: 's3://my-logs', GANTRY_S3_ENDPOINT: 'http://minio:9000', ...KEYS }).store as S3BlobStore;
    assert.equal(minio.location, 's3://my-logs/');
    assert.equal(minio.prefix, '');
    assert.equal(minio.endpoint, 'http://minio:9000');
  });

  it('reads GANTRY_S3_* credentials, else the AWS_* ones, never a mix; the region from GANTRY_S3_REGION, then AWS_REGION', () => {
    const own = loadConfig({ ...KEYS, AWS_ACCESS_KEY_ID: 'other', AWS_SECRET_ACCESS_KEY: 'other-secret', AWS_SESSION_TOKEN: 'tok' }, false).server.s3;
    assert.deepEqual([own.accessKeyId, own.secretAccessKey, own.sessionToken], ['AKID', 'very-secret', null]);
    const awsEnv = loadConfig({ AWS_ACCESS_KEY_ID: 'other', AWS_SECRET_ACCESS_KEY: 'other-secret', AWS_SESSION_TOKEN: 'tok', AWS_REGION: 'ap-south-1' }, false).server.s3;
    assert.deepEqual([awsEnv.accessKeyId, awsEnv.secretAccessKey, awsEnv.sessionToken, awsEnv.region], ['other', 'other-secret', 'tok', 'ap-south-1']);
    assert.equal(loadConfig({}, false).server.s3.region, 'us-east-1');
    assert.equal(loadConfig({ GANTRY_S3_PATH_STYLE: 'false' }, false).server.s3.pathStyle, false);
    assert.equal(loadConfig({ GANTRY_S3_PATH_STYLE: 'true' }, false).server.s3.pathStyle, true);
  });

  it("never hands the GANTRY_S3_* credentials on to jobs (gantry up runs jobs from the server's process)", () => {
    const env = loadConfig({ ...KEYS, GANTRY_S3_SESSION_TOKEN: 'tok', PATH: '/bin' }, false).env;
    assert.deepEqual(Object.keys(env).filter((k) => k.startsWith('GANTRY_S3_')), []);
    assert.equal(env.PATH, '/bin');
  });

  it('refuses, saying why: no credentials, no bucket, an unknown scheme, an endpoint that is not http(s) or carries a secret', () => {
    const refused = (env: Record<string, string>, re: RegExp) =>
      assert.throws(
        () => open(env),
        (e: Error & { code?: string }) => e.code === 'GANTRY_E_USAGE' && re.test(e.message) && !e.message.includes('very-secret') && !e.message.includes('pw123'),
      );
    refused({ GANTRY_LOG_OBJECTS: 's3://my-logs' }, /needs credentials/);
    refused({ GANTRY_LOG_OBJECTS: 's3://', ...KEYS }, /does not name a bucket/);
    refused({ GANTRY_LOG_OBJECTS: 's3:///prefix', ...KEYS }, /does not name a bucket/);
    refused({ GANTRY_LOG_OBJECTS: 'gs://bucket', ...KEYS }, /not supported/);
    refused({ GANTRY_LOG_OBJECTS: 's3://b1', GANTRY_S3_ENDPOINT: 'ftp://host', ...KEYS }, /not an http/);
    refused({ GANTRY_LOG_OBJECTS: 's3://b1', GANTRY_S3_ENDPOINT: 'http://user:pw123@host', ...KEYS }, /must not carry credentials/);
  });
});
