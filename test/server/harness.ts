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

export interface HarnessOptions {
  /** A base directory of an earlier harness (a restart): reused, and left in place by close(). */
  base?: string;
  /** The server's clock. */
  now?: () => number;
  /** Tokens another instance of the same database made (a second server of a fleet). */
  tokens?: { admin: string; agent: string };
  /** A home shared with another instance (its log objects, secrets key and token files). */
  home?: string;
  /** Server options beyond the defaults (log limits, keep-alive period, the webhook queue's settings, ...). */
  deps?: Partial<ServerDeps>;
}

export async function startHarness(openStore: (home: string) => Promise<Store>, opts: HarnessOptions = {}): Promise<Harness> {
  const base = opts.base ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-server-'));
  const home = opts.home ?? path.join(base, 'home');
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
    ...(opts.now ? { now: opts.now } : {}),
    ...opts.deps,
    // The server shares its event loop with the test, whose git commands and files are synchronous:
    // the loop's pressure would be the test's, so it sheds nothing unless a test asks for it.
    overload: { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0, ...opts.deps?.overload },
  });
  await bootstrapToken(store, home, 'admin', opts.tokens?.admin ?? null, Date.now());
  await bootstrapToken(store, home, 'agent', opts.tokens?.agent ?? null, Date.now());
  // A second harness on a store that already has tokens, and none given, gets no token files.
  const tokenOf = (f: string) => (fs.existsSync(path.join(home, f)) ? fs.readFileSync(path.join(home, f), 'utf8').trim() : '');
  const admin = tokenOf('admin.token');
  const agent = tokenOf('agent.token');
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
      if (opts.base === undefined) fs.rmSync(base, { recursive: true, force: true });
    },
  };
}
