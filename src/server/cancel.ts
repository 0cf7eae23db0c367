// Canceling a pipeline through the store's state machine. The pipeline's own move decides: of
// concurrent cancels (or a cancel racing the pipeline's end) exactly one wins, and a finished
// pipeline is refused. Then every job and attempt not yet finished moves to canceled; the store
// refuses any move that became illegal meanwhile, and that refusal is simply the job's own end.

import { isFinishedAttempt, isFinishedJob } from '../domain/status.js';
import type { PipelineId } from '../domain/ids.js';
import type { PipelineWithJobs, Store } from '../store/store.js';
import { ApiError } from './errors.js';

export async function cancelPipeline(store: Store, id: PipelineId, now: () => number): Promise<PipelineWithJobs> {
  const before = await store.getPipeline(id);
  if (!before) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${id}`);
  const at = now();
  if (!(await store.movePipeline(id, 'canceled', at))) {
    const current = (await store.getPipeline(id))!.pipeline.status;
    throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `pipeline ${id} is ${current}: it cannot be canceled`);
  }
  for (const a of before.attempts) {
    if (!isFinishedAttempt(a.status)) {
      await store.finishAttempt(a.id, { status: 'canceled', at, exitCode: null, failureReason: 'canceled', logBytes: a.logBytes });
    }
  }
  for (const j of before.jobs) {
    if (!isFinishedJob(j.status)) await store.moveJob(j.id, 'canceled', { at, failureReason: 'canceled' });
  }
  return (await store.getPipeline(id))!;
}
