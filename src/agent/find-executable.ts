// Where a program is on a search path (PATH), as an absolute path, or null.

import fs from 'node:fs';
import path from 'node:path';

export function findExecutable(name: string, searchPath: string | undefined): string | null {
  for (const dir of (searchPath || '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
