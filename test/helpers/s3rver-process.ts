// s3rver in a process of its own, for test/helpers/s3-server.ts. Its own process because s3rver
// makes ListObjectsV2 continuation tokens with DES, which Node 20's OpenSSL 3 refuses unless
// started with --openssl-legacy-provider: a flag for this process only, not for the tests and
// the servers they run. Told what to serve over IPC; answers with its port; ends when told to or
// when its parent goes.

import { createRequire } from 'node:module';

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
interface S3rverModule {
  new (opts: Record<string, unknown>): S3rverInstance;
}
interface AccountModule {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
}

export interface S3rverConfig {
  directory: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export type S3rverMessage = { kind: 'started'; port: number } | { kind: 'failed'; error: string };

const require = createRequire(import.meta.url);

if (process.send) {
  process.once('message', (config: S3rverConfig) => void serve(config));
  // An orphan would keep its port and directory: the parent's end is this process's end.
  process.on('disconnect', () => process.exit(0));
}

async function serve(config: S3rverConfig): Promise<void> {
  try {
    const S3rver = require('s3rver') as S3rverModule;
    (require('s3rver/lib/models/account.js') as AccountModule).DUMMY_ACCOUNT.createKeyPair(config.accessKeyId, config.secretAccessKey);
    // serviceEndpoint 'localhost': `<bucket>.s3.localhost` is a virtual-hosted request.
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: config.directory, serviceEndpoint: 'localhost', configureBuckets: [{ name: config.bucket }] });
    const { port } = await server.run();
    process.on('message', (m: unknown) => {
      if (m === 'close') void server.close().finally(() => process.exit(0));
    });
    process.send!({ kind: 'started', port } satisfies S3rverMessage);
  } catch (e) {
    process.send!({ kind: 'failed', error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies S3rverMessage);
    process.exit(1);
  }
}
