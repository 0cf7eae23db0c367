// Deleting a pipeline's workspaces costs as much disk work as making them. The user should not
// wait for it: directories are renamed into $GANTRY_HOME/trash (instant) and removed by a
// detached `rm -rf` that outlives `gantry run`; whatever a crash leaves there goes next time.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Launcher } from '../agent/launcher/launcher.js';

export function discard(home: string, dirs: readonly string[], launcher?: Launcher): void {
  const trash = path.join(home, 'trash');
  try {
    fs.mkdirSync(trash, { recursive: true });
  } catch {
    return;
  }
  let moved = 0;
  for (const dir of dirs) {
    try {
      fs.renameSync(dir, path.join(trash, crypto.randomUUID()));
      moved++;
    } catch {
      // already gone
    }
  }
  if (moved > 0) emptyTrash(trash, launcher);
}

/**
 * Removes everything in the trash (this run's and what a crashed one left) in the background.
 * With a launcher, it starts the `rm` (a fork from this big process costs milliseconds).
 */
function emptyTrash(trash: string, launcher?: Launcher): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(trash);
  } catch {
    return;
  }
  if (entries.length === 0) return;
  const args = ['-rf', '--', ...entries.map((e) => path.join(trash, e))];
  if (launcher) {
    launcher.launch({ file: 'rm', args, cwd: trash, env: { PATH: '/usr/bin:/bin' }, outputPath: '/dev/null' }).catch(() => {});
    return;
  }
  const child = spawn('rm', args, { detached: true, stdio: 'ignore' });
  child.on('error', () => {});
  child.unref();
}
