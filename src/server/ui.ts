// Serves the web UI (ui/, bundled by scripts/build-ui.mjs into dist/public/): hashed assets under
// /assets/ cached for good, and index.html for every client route so a reload or a shared link
// (/pipelines/12, /jobs/34#L120) opens the app on that page. Everything else (/api/v1, /healthz,
// /metrics, unknown paths) is untouched. The files are read once at start: a handful, a few
// hundred KiB.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from './errors.js';

/** dist/src/server/ui.js -> dist/public/ */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

/** The paths the app routes on the client (ui/router.ts); each answers index.html. */
const CLIENT_ROUTES = ['/', '/login', '/agents', '/queue', '/account/*', '/admin/*', '/projects/*', '/pipelines/*', '/jobs/*'];

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Scripts and styles from this origin only; inline style attributes are allowed because the DAG
 * and the virtual log position their rows with them. The API is same-origin, so connect-src 'self'.
 */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function readAssets(dir: string): { index: Buffer | null; assets: Map<string, Buffer> } {
  const assets = new Map<string, Buffer>();
  let index: Buffer | null = null;
  try {
    index = fs.readFileSync(path.join(dir, 'index.html'));
    const assetDir = path.join(dir, 'assets');
    for (const name of fs.readdirSync(assetDir)) assets.set(name, fs.readFileSync(path.join(assetDir, name)));
  } catch {
    // Not built: the routes below say so.
  }
  return { index, assets };
}

export function uiRoutes(app: FastifyInstance, dir: string = DEFAULT_UI_DIR): void {
  const { index, assets } = readAssets(dir);
  const secure = (reply: FastifyReply) =>
    reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('content-security-policy', CSP);

  const page = async (_req: unknown, reply: FastifyReply) => {
    if (!index) throw new ApiError('GANTRY_E_NOT_FOUND', 'the web UI is not built: run `npm run build`');
    // The page names the hashed assets of this build: always ask again.
    return secure(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  for (const url of CLIENT_ROUTES) app.get(url, { config: { public: true }, schema: { hide: true } }, page);

  app.get('/assets/:file', { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    const file = (request.params as { file: string }).file;
    const body = assets.get(file);
    if (!body) throw new ApiError('GANTRY_E_NOT_FOUND', `no asset ${file}`);
    // Asset names carry a content hash (index.html is the only unhashed file).
    return secure(reply)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type(TYPES[path.extname(file)] ?? 'application/octet-stream')
      .send(body);
  });
}
