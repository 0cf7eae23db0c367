// API.md's role table, generated from the OpenAPI document of a server built in memory: one row
// per route (HEAD routes aside), its method, path and what it asks of its caller.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { startHarness } from './harness.js';

const WORDS: Record<string, string> = {
  viewer: 'viewer',
  developer: 'developer',
  maintainer: 'maintainer',
  admin: 'admin',
  'own-account': 'own account (or admin)',
  'signed-in': 'signed in (shows what the caller may see)',
  public: 'none (public)',
  agent: 'agent token (agent protocol)',
  'trigger-token': "the project's trigger token",
};

/** The rows of the OpenAPI document: `| METHOD path | access |`, sorted by path then method. */
export function roleRows(doc: { paths: Record<string, Record<string, { 'x-gantry-access'?: string }>> }): string {
  const rows = Object.entries(doc.paths)
    .flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => ({ p: p.replace('/api/v1', ''), m: m.toUpperCase(), a: op['x-gantry-access'] ?? '?' })))
    .filter((r) => !r.p.startsWith('/agent/'))
    .sort((x, y) => (x.p === y.p ? x.m.localeCompare(y.m) : x.p.localeCompare(y.p)));
  return ['| Route | Needs |', '|---|---|', ...rows.map((r) => `| \`${r.m} ${r.p}\` | ${WORDS[r.a] ?? r.a} |`)].join('\n') + '\n';
}

export async function roleTable(): Promise<string> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-roles-'));
  const h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')), { base });
  try {
    return roleRows((await (await fetch(`${h.url}/api/v1/openapi.json`)).json()) as Parameters<typeof roleRows>[0]);
  } finally {
    await h.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}
