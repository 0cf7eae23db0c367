// Turns a store URL into a Store. The URL is the one place the database is chosen.

import path from 'node:path';
import { GantryError } from '../domain/errors.js';
import type { Store } from './store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { SqliteOptions } from './sqlite/sqlite-dialect.js';

/** `sqlite:<home>/gantry.db`: the embedded store of `gantry run`. */
export function defaultStoreUrl(home: string): string {
  return `sqlite:${path.join(home, 'gantry.db')}`;
}

/**
 * `sqlite:PATH` (relative paths from the working directory; parent directories are created),
 * `sqlite::memory:`, or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (also `postgresql://`;
 * libpq-style parameters such as `?sslmode=require` or `?options=-c%20search_path%3Dgantry`).
 */
export async function openStore(url: string, options: { sqlite?: SqliteOptions } = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const rest = url.slice('sqlite:'.length);
    if (rest === '') throw new GantryError('GANTRY_E_USAGE', `store URL "${url}" has no path: use sqlite:PATH or sqlite::memory:`);
    return openSqliteStore(rest === ':memory:' ? ':memory:' : path.resolve(rest), options.sqlite);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    // Loaded only when asked for: the `pg` driver costs ~30 ms to load, and `gantry run` never needs it.
    const { openPostgresStore } = await import('./postgres/postgres-store.js');
    return openPostgresStore(url);
  }
  throw new GantryError(
    'GANTRY_E_USAGE',
    `store URL "${url}" is not supported: use sqlite:PATH, sqlite::memory: or postgres://USER@HOST:PORT/DATABASE`,
  );
}
