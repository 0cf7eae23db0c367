// One agent process per agent home. Its spool, its builds and its record of running jobs are
// the process's own: a second process on the same home would delete the first one's spool and
// kill its jobs as leftovers. The lock is a file naming the holder (pid and start time), taken
// over when that process is gone, so a crash never leaves the home locked.

import fs from 'node:fs';
import path from 'node:path';
import { identityOf, isStillRunning, type ProcessIdentity } from '../process-identity.js';

export type HomeLock = { ok: true; release: () => void } | { ok: false; holder: number };

export function lockHome(home: string): HomeLock {
  const file = path.join(home, 'agent.lock');
  const me = identityOf(process.pid);
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      return { ok: true, release: () => fs.rmSync(file, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder: ProcessIdentity | null = null;
    try {
      holder = JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessIdentity;
    } catch {
      // torn or removed meanwhile: take it over
    }
    if (holder && holder.pid !== process.pid && isStillRunning(holder)) return { ok: false, holder: holder.pid };
    fs.rmSync(file, { force: true });
  }
  return { ok: false, holder: -1 };
}
