// Creating a pipeline with its jobs, in the caller's transaction: the store's createPipeline, and
// the fleet's child pipelines (fleet/downstream.ts), which are made under their parent's lock.

import type { ForkApproval } from '../../domain/approvals.js';
import { GantryError } from '../../domain/errors.js';
import type { NewPipeline, PipelineWithJobs } from '../store.js';
import type { SqlExecutor, SqlValue } from './dialect.js';
import { forkApprovalIn } from './gates.js';
import { JOB_COLUMNS, PIPELINE_COLUMNS, toJob, toPipeline, type JobRow, type PipelineRow } from './rows.js';

const JOB_BATCH = 50;
const insertJobsSqlBySize: string[] = [];
/** The INSERT of `n` jobs (1..JOB_BATCH): one text per size, so each is prepared once. */
function insertJobsSql(n: number): string {
  let sql = insertJobsSqlBySize[n];
  if (sql === undefined) {
    sql =
      'INSERT INTO jobs (pipeline_id, position, name, stage, stage_index, status, spec, created_at, environment, bridge) VALUES ' +
      Array.from({ length: n }, () => "(?, ?, ?, ?, ?, 'created', ?, ?, ?, ?)").join(', ') +
      ` RETURNING ${JOB_COLUMNS}`;
    insertJobsSqlBySize[n] = sql;
  }
  return sql;
}

/** Inserts a pipeline and its jobs, every job `created`, in the caller's transaction (a child pipeline's: the fleet's). */
export async function insertPipelineIn(tx: SqlExecutor, input: NewPipeline): Promise<PipelineWithJobs> {
  {
    const project = await tx.get<{ id: number | string; fork_approval: string }>('SELECT id, fork_approval FROM projects WHERE id = ?', [input.projectId]);
    if (!project) throw new GantryError('GANTRY_E_NOT_FOUND', `no project with id ${input.projectId}`);
    const waitFor = input.fork ? await forkApprovalIn(tx, input.projectId, project.fork_approval as ForkApproval, input.fork.author) : null;
    const p = await tx.get<PipelineRow>(
      'INSERT INTO pipelines (project_id, status, ref, sha, source, variables, file_variables, pipeline_file, runs_on, predefined_variables, trusted, triggered_by, created_at, protected_ref, ' +
        'approval_reason, fork_provider, fork_author, parent_pipeline_id, parent_job_id) ' +
        `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${PIPELINE_COLUMNS}`,
      [
        input.projectId,
        waitFor === null ? 'created' : 'waiting_for_approval',
        input.ref,
        input.sha,
        input.source,
        JSON.stringify(input.variables),
        JSON.stringify(input.fileVariables),
        input.pipelineFile,
        input.runsOn ?? 'local',
        JSON.stringify(input.predefinedVariables ?? {}),
        input.trusted === false ? 0 : 1,
        input.triggeredBy ? JSON.stringify(input.triggeredBy) : null,
        input.createdAt,
        input.protectedRef === true ? 1 : 0,
        waitFor,
        input.fork?.author?.provider ?? null,
        input.fork?.author?.name ?? null,
        input.parent?.pipelineId ?? null,
        input.parent?.jobId ?? null,
      ],
    );
    const pipeline = toPipeline(p!);
    // Jobs go in JOB_BATCH rows per statement: against a database server each statement is a
    // network round trip, and a pipeline can have hundreds of jobs.
    const rows: JobRow[] = [];
    for (let start = 0; start < input.jobs.length; start += JOB_BATCH) {
      const batch = input.jobs.slice(start, start + JOB_BATCH);
      const params: SqlValue[] = [];
      batch.forEach((spec, k) =>
        params.push(pipeline.id, start + k, spec.name, spec.stage, spec.stageIndex, JSON.stringify(spec), input.createdAt, spec.environment ?? null, spec.trigger ? 1 : 0),
      );
      rows.push(...(await tx.all<JobRow>(insertJobsSql(batch.length), params)));
    }
    // RETURNING promises no order: sort as getPipeline does.
    rows.sort((a, b) => a.stage_index - b.stage_index || a.position - b.position);
    return { pipeline, jobs: rows.map(toJob), attempts: [], children: [] };
  }
}


