// The gates' records in SQL (src/store/gates.ts) and the fork rule applied in the transaction that
// creates a fork's pipeline (forkApprovalIn), so "approved always" and "first-time" are read in the
// same transaction that decides.

import { forkApprovalReason, type ForkApproval, type ProtectedEnvironment } from '../../domain/approvals.js';
import type { ProjectId } from '../../domain/ids.js';
import type { JobStatus } from '../../domain/status.js';
import type { TriggeredBy } from '../../domain/triggered-by.js';
import type { AuditFor } from '../audit.js';
import type { ApprovedForkAuthor, Deployment, EnvironmentSettings, EnvironmentSummary, GateStore, JobDecision } from '../gates.js';
import type { EpochMs } from '../store.js';
import { audited, auditIn } from './audit.js';
import type { SqlDialect, SqlExecutor } from './dialect.js';
import { num, numOrNull } from './rows.js';

/** Why a new fork pipeline of the project waits for approval, or null: it runs at once. */
export async function forkApprovalIn(
  tx: SqlExecutor,
  projectId: number,
  rule: ForkApproval,
  author: { provider: string; name: string } | null,
): Promise<string | null> {
  if (rule === 'none') return forkApprovalReason(rule, { author, approvedAlways: false, hasApprovedPipeline: false });
  let approvedAlways = false;
  let hasApprovedPipeline = false;
  if (author !== null) {
    approvedAlways = (await tx.get('SELECT 1 AS x FROM fork_authors WHERE project_id = ? AND provider = ? AND author = ?', [projectId, author.provider, author.name])) !== undefined;
    hasApprovedPipeline =
      (await tx.get('SELECT 1 AS x FROM pipelines WHERE project_id = ? AND fork_author = ? AND fork_provider = ? AND approved_at IS NOT NULL LIMIT 1', [
        projectId,
        author.name,
        author.provider,
      ])) !== undefined;
  }
  return forkApprovalReason(rule, { author, approvedAlways, hasApprovedPipeline });
}

interface DeploymentRow {
  id: number | string;
  name: string;
  pipeline_id: number | string;
  status: string;
  created_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
  ref: string;
  sha: string;
  triggered_by: string | null;
}
const DEPLOYMENT_SELECT =
  'SELECT j.id, j.name, j.pipeline_id, j.status, j.created_at, j.started_at, j.finished_at, p.ref, p.sha, p.triggered_by ' +
  'FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id';

function toDeployment(r: DeploymentRow): Deployment {
  return {
    jobId: num(r.id),
    jobName: r.name,
    pipelineId: num(r.pipeline_id),
    ref: r.ref,
    sha: r.sha,
    status: r.status as JobStatus,
    triggeredBy: r.triggered_by === null ? null : (JSON.parse(r.triggered_by) as TriggeredBy),
    createdAt: num(r.created_at),
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
  };
}

interface EnvironmentRow {
  name: string;
  required_approvals: number | string;
  deployers: string;
  updated_at: number | string;
}
const toEnvironment = (r: EnvironmentRow): EnvironmentSettings => ({
  name: r.name,
  requiredApprovals: num(r.required_approvals),
  deployers: JSON.parse(r.deployers) as string[],
  updatedAt: num(r.updated_at),
});

/** The protection of a project's environment, in a transaction or not; null: not protected. */
export async function environmentIn(x: SqlExecutor, projectId: number, name: string): Promise<EnvironmentSettings | null> {
  const r = await x.get<EnvironmentRow>('SELECT name, required_approvals, deployers, updated_at FROM environments WHERE project_id = ? AND name = ?', [projectId, name]);
  return r ? toEnvironment(r) : null;
}

export class SqlGateStore implements GateStore {
  constructor(private readonly db: SqlDialect) {}

  async listForkAuthors(projectId: ProjectId): Promise<ApprovedForkAuthor[]> {
    const rows = await this.db.all<{ provider: string; author: string; approved_by: string; created_at: number | string }>(
      'SELECT provider, author, approved_by, created_at FROM fork_authors WHERE project_id = ? ORDER BY provider, author',
      [projectId],
    );
    return rows.map((r) => ({ provider: r.provider, author: r.author, approvedBy: r.approved_by, createdAt: num(r.created_at) }));
  }

  removeForkAuthor(projectId: ProjectId, provider: string, author: string, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, async (x) => (await x.run('DELETE FROM fork_authors WHERE project_id = ? AND provider = ? AND author = ?', [projectId, provider, author])).changes === 1);
  }

  async listEnvironments(projectId: ProjectId): Promise<EnvironmentSummary[]> {
    const settings = await this.db.all<EnvironmentRow>('SELECT name, required_approvals, deployers, updated_at FROM environments WHERE project_id = ?', [projectId]);
    const deployed = await this.db.all<{ environment: string; id: number | string }>(
      'SELECT j.environment, MAX(j.id) AS id FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id WHERE p.project_id = ? AND j.environment IS NOT NULL GROUP BY j.environment',
      [projectId],
    );
    const names = new Set([...settings.map((s) => s.name), ...deployed.map((d) => d.environment)]);
    const last = new Map<string, Deployment>();
    if (deployed.length > 0) {
      const rows = await this.db.all<DeploymentRow>(`${DEPLOYMENT_SELECT} WHERE j.id IN (${deployed.map(() => '?').join(', ')})`, deployed.map((d) => num(d.id)));
      const envOf = new Map(deployed.map((d) => [num(d.id), d.environment]));
      for (const r of rows) last.set(envOf.get(num(r.id))!, toDeployment(r));
    }
    const byName = new Map(settings.map((s) => [s.name, toEnvironment(s)]));
    return [...names].sort().map((name) => ({
      name,
      requiredApprovals: byName.get(name)?.requiredApprovals ?? 0,
      deployers: byName.get(name)?.deployers ?? [],
      lastDeployment: last.get(name) ?? null,
    }));
  }

  getEnvironment(projectId: ProjectId, name: string): Promise<EnvironmentSettings | null> {
    return environmentIn(this.db, projectId, name);
  }

  putEnvironment(projectId: ProjectId, env: ProtectedEnvironment, at: EpochMs, audit?: AuditFor<EnvironmentSettings>): Promise<EnvironmentSettings> {
    return this.db.transaction(async (tx) => {
      const r = await tx.get<EnvironmentRow>(
        'INSERT INTO environments (project_id, name, required_approvals, deployers, updated_at) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (project_id, name) DO UPDATE SET required_approvals = excluded.required_approvals, deployers = excluded.deployers, updated_at = excluded.updated_at ' +
          'RETURNING name, required_approvals, deployers, updated_at',
        [projectId, env.name, env.requiredApprovals, JSON.stringify(env.deployers), at],
      );
      return auditIn(tx, audit, toEnvironment(r!));
    });
  }

  async listDeployments(projectId: ProjectId, name: string, limit: number, beforeJobId?: number): Promise<Deployment[]> {
    const rows = await this.db.all<DeploymentRow>(
      `${DEPLOYMENT_SELECT} WHERE j.environment = ? AND p.project_id = ?${beforeJobId === undefined ? '' : ' AND j.id < ?'} ORDER BY j.id DESC LIMIT ?`,
      beforeJobId === undefined ? [name, projectId, limit] : [name, projectId, beforeJobId, limit],
    );
    return rows.map(toDeployment);
  }

  async jobDecisions(jobId: number): Promise<JobDecision[]> {
    return decisionsIn(this.db, jobId);
  }
}

export async function decisionsIn(x: SqlExecutor, jobId: number): Promise<JobDecision[]> {
  const rows = await x.all<{ approver: string; approver_name: string; decision: string; comment: string | null; at: number | string }>(
    'SELECT approver, approver_name, decision, comment, at FROM job_approvals WHERE job_id = ? ORDER BY at, approver',
    [jobId],
  );
  return rows.map((r) => ({ approver: r.approver, name: r.approver_name, decision: r.decision as JobDecision['decision'], comment: r.comment, at: num(r.at) }));
}
