// Opens what the local commands share under $GANTRY_HOME: the embedded store and the log store.

import fs from 'node:fs';
import path from 'node:path';
import { FileLogStore } from '../logstore/file-log-store.js';
import type { LogStore } from '../logstore/log-store.js';
import { reapOrphans } from '../local/orphans.js';
import { defaultStoreUrl, openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import type { CliContext } from './context.js';

export interface Home {
  store: Store;
  logs: LogStore;
  close(): Promise<void>;
}

export async function openHome(ctx: CliContext): Promise<Home> {
  fs.mkdirSync(ctx.config.home, { recursive: true });
  const store = await openStore(defaultStoreUrl(ctx.config.home));
  const logs = new FileLogStore(path.join(ctx.config.home, 'logs'));
  // A run killed outright left its pipeline `running`: settle it before anyone reads the history.
  await reapOrphans(store, ctx.config.home);
  return { store, logs, close: () => store.close() };
}
