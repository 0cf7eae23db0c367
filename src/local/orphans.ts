// A `gantry run` killed outright (kill -9, a reboot) leaves its pipeline `running` forever. Each
// run holds a pid file in $GANTRY_HOME/runs; the next local command ends the pipelines whose
// owner is gone: their running attempts fail as `agent_lost`, everything that had not started
// is canceled, and the pipeline fails. Their logs stay readable up to the last byte written.
// Only pipelines with a pid file are looked at: the server's pipelines are not `gantry run`'s.

import fs from 'node:fs';
import path from 'node:path';
import { isFinishedJob, isFinishedPipeline } from '../domain/status.js';
import type { PipelineId } from '../domain/ids.js';
import type { Store } from '../store/store.js';

function pidFile(home: string, id: PipelineId): string {
  return path.join(home, 'runs', `${id}.pid`);
}

export function claimPipeline(home: string, id: PipelineId): () => void {
  const file = pidFile(home, id);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, String(process.pid));
  return () => fs.rm(file, { force: true }, () => {});
}

function ownerAlive(pid: number): boolean {
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
  let claims: string[];
  try {
    claims = fs.readdirSync(path.join(home, 'runs')).filter((f) => /^\d+\.pid$/.test(f));
  } catch {
    return reaped; // no run ever claimed a pipeline here
  }
  for (const claim of claims) {
    const id = Number(claim.slice(0, -'.pid'.length)) as PipelineId;
    let pid: number;
    try {
      pid = Number(fs.readFileSync(pidFile(home, id), 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    if (ownerAlive(pid)) continue;
    const full = await store.getPipeline(id);
    if (full && !isFinishedPipeline(full.pipeline.status)) {
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
      await store.movePipeline(id, 'failed', now);
      reaped.push(id);
    }
    fs.rmSync(pidFile(home, id), { force: true });
  }
  return reaped;
}
