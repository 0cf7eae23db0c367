// An in-process server over a real store, a real log store and real git repositories, talked to
// over loopback HTTP with Node's fetch.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { FileLogStore } from '../../src/logstore/file-log-store.js';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { buildServer, type ServerDeps } from '../../src/server/app.js';
import { GitMirrors } from '../../src/server/git-mirror.js';
import { loadOrCreateSecretsKey, SecretBox } from '../../src/server/secrets.js';
import { bootstrapToken } from '../../src/server/tokens.js';
import type { Store } from '../../src/store/store.js';

export interface Harness {
  base: string;
  home: string;
  url: string;
  admin: string;
  agent: string;
  store: Store;
  logs: FileLogStore;
  app: FastifyInstance;
  /** fetch under /api/v1 with the admin token (unless headers say otherwise); JSON body if given. */
  api(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startHarness(openStore: (home: string) => Promise<Store>, extra: Partial<ServerDeps> = {}, homeDir?: string): Promise<Harness> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-server-'));
  // Two instances of one fleet may share a home (its blob store and secrets key).
  const home = homeDir ?? path.join(base, 'home');
  fs.mkdirSync(home, { recursive: true });
  const store = await openStore(home);
  const logs = new FileLogStore(path.join(home, 'logs'));
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const app = await buildServer({
    store,
    logs,
    blobs: new DirBlobStore(path.join(home, 'blobs')),
    logObjects: new DirBlobStore(path.join(home, 'log-objects')),
    mirrors: new GitMirrors(path.join(home, 'mirrors'), env),
    secrets: new SecretBox(loadOrCreateSecretsKey(path.join(home, 'secrets.key'))),
    ...extra,
  });
  await bootstrapToken(store, home, 'admin', null, Date.now());
  await bootstrapToken(store, home, 'agent', null, Date.now());
  const admin = fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
  const agent = fs.readFileSync(path.join(home, 'agent.token'), 'utf8').trim();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    base,
    home,
    url,
    admin,
    agent,
    store,
    logs,
    app,
    api(method, p, body, headers = {}) {
      const h: Record<string, string> = { authorization: `Bearer ${admin}`, ...headers };
      if (body !== undefined) h['content-type'] = 'application/json';
      return fetch(`${url}/api/v1${p}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    },
    async close() {
      // fetch may leave a connection it opened but never sent a request on (after an aborted
      // stream); Node counts it neither idle nor active, and close would wait out its timeout.
      const closing = app.close();
      setTimeout(() => app.server.closeAllConnections(), 1_000).unref();
      await closing;
      await store.close();
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}
