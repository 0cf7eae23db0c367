// A `gantry run` killed outright (kill -9, a reboot) leaves its pipeline `running` forever. Each
// run holds a pid file in $GANTRY_HOME/runs; the next local command ends the pipelines whose
// owner is gone: their running attempts fail as `agent_lost`, everything that had not started
// is canceled, and the pipeline fails. Their logs stay readable up to the last byte written.

import fs from 'node:fs';
import path from 'node:path';
import { isFinishedJob } from '../domain/status.js';
import type { PipelineId } from '../domain/ids.js';
import type { Store } from '../store/store.js';

const GRACE_WITHOUT_PID_FILE_MS = 60_000;

function pidFile(home: string, id: PipelineId): string {
  return path.join(home, 'runs', `${id}.pid`);
}

export function claimPipeline(home: string, id: PipelineId): () => void {
  const file = pidFile(home, id);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, String(process.pid));
  return () => fs.rm(file, { force: true }, () => {});
}

function ownerAlive(home: string, id: PipelineId, createdAt: number, now: number): boolean {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile(home, id), 'utf8'));
  } catch {
    return now - createdAt < GRACE_WITHOUT_PID_FILE_MS; // just created; its run may not have claimed it yet
  }
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Ends the local pipelines whose `gantry run` is gone; returns their ids. */
export async function reapOrphans(store: Store, home: string, now = Date.now()): Promise<PipelineId[]> {
  const reaped: PipelineId[] = [];
  for (const status of ['created', 'pending', 'running'] as const) {
    const page = await store.listPipelines({ status, source: 'local', limit: 100 });
    for (const p of page.items) {
      if (ownerAlive(home, p.id, p.createdAt, now)) continue;
      const full = await store.getPipeline(p.id);
      if (!full) continue;
      for (const a of full.attempts) {
        if (a.status === 'running' || a.status === 'pending') {
          await store.finishAttempt(a.id, { status: 'failed', at: now, exitCode: null, failureReason: 'agent_lost', logBytes: a.logBytes });
        }
      }
      for (const j of full.jobs) {
        if (isFinishedJob(j.status)) continue;
        if (j.status === 'running') await store.moveJob(j.id, 'failed', { at: now, failureReason: 'agent_lost' });
        else await store.moveJob(j.id, 'canceled', { at: now, failureReason: 'canceled' });
      }
      await store.movePipeline(p.id, 'failed', now);
      fs.rm(pidFile(home, p.id), { force: true }, () => {});
      reaped.push(p.id);
    }
  }
  return reaped;
}
