// Forge configurations and the commit status outbox over any SqlDialect (src/store/forge.ts).

import { asPipelineId, asProjectId, type PipelineId, type ProjectId } from '../../domain/ids.js';
import type { PipelineStatus } from '../../domain/status.js';
import type { ForgeConfig, ForgeOutboxRow, ForgeProvider, ForgeReport, ForgeStore, ReportOutcome } from '../forge.js';
import type { EpochMs } from '../store.js';
import type { AuditFor } from '../audit.js';
import { audited } from './audit.js';
import type { SqlDialect, SqlExecutor } from './dialect.js';
import { num, numOrNull } from './rows.js';

interface ConfigRow {
  project_id: number | string;
  provider: string;
  base_url: string;
  repository: string;
  context: string;
  ciphertext: string;
  nonce: string;
  updated_at: number | string;
}
const CONFIG_COLUMNS = 'project_id, provider, base_url, repository, context, ciphertext, nonce, updated_at';

interface OutboxRow {
  pipeline_id: number | string;
  status: string;
  version: number | string;
  sent_version: number | string;
  sent_state: string | null;
  attempts: number | string;
  next_at: number | string | null;
  last_error: string | null;
}
const OUTBOX_COLUMNS = 'pipeline_id, status, version, sent_version, sent_state, attempts, next_at, last_error';

/**
 * The outbox's write, in the transaction that moved the pipelines (src/store/sql/fleet/
 * sql-fleet-store.ts): each pipeline of a project with a forge configuration gets its latest status
 * and a new version, due at once. A status that did not change writes nothing, so the many
 * transactions that move only jobs cost one statement and no row version.
 */
export async function enqueueForgeStatusesIn(tx: SqlExecutor, pipelineIds: readonly number[]): Promise<void> {
  if (pipelineIds.length === 0) return;
  await tx.run(
    'INSERT INTO forge_statuses (pipeline_id, status, version, next_at) ' +
      'SELECT p.id, p.status, 1, 0 FROM pipelines p JOIN forge_configs c ON c.project_id = p.project_id ' +
      `WHERE p.id IN (${pipelineIds.map(() => '?').join(', ')}) AND p.runs_on = 'fleet' ` +
      'ON CONFLICT (pipeline_id) DO UPDATE SET status = excluded.status, version = forge_statuses.version + 1, attempts = 0, next_at = 0 ' +
      'WHERE forge_statuses.status <> excluded.status',
    [...pipelineIds],
  );
}

export class SqlForgeStore implements ForgeStore {
  constructor(private readonly db: SqlDialect) {}

  async putConfig(c: ForgeConfig, audit?: AuditFor<void>): Promise<void> {
    await audited(this.db, audit, async (x) => {
    await x.run(
      `INSERT INTO forge_configs (${CONFIG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ` +
        'ON CONFLICT (project_id) DO UPDATE SET provider = excluded.provider, base_url = excluded.base_url, repository = excluded.repository, ' +
        'context = excluded.context, ciphertext = excluded.ciphertext, nonce = excluded.nonce, updated_at = excluded.updated_at',
      [c.projectId, c.provider, c.baseUrl, c.repository, c.context, c.ciphertext, c.nonce, c.updatedAt],
    );
    });
  }

  async getConfig(projectId: ProjectId): Promise<ForgeConfig | null> {
    const r = await this.db.get<ConfigRow>(`SELECT ${CONFIG_COLUMNS} FROM forge_configs WHERE project_id = ?`, [projectId]);
    if (!r) return null;
    return {
      projectId: asProjectId(num(r.project_id)),
      provider: r.provider as ForgeProvider,
      baseUrl: r.base_url,
      repository: r.repository,
      context: r.context,
      ciphertext: r.ciphertext,
      nonce: r.nonce,
      updatedAt: num(r.updated_at),
    };
  }

  async deleteConfig(projectId: ProjectId, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, async (x) => (await x.run('DELETE FROM forge_configs WHERE project_id = ?', [projectId])).changes === 1);
  }

  async claimReports(at: EpochMs, claimedUntil: EpochMs, limit: number): Promise<ForgeReport[]> {
    return this.db.transaction(async (tx) => {
      // Only the outbox rows are locked (SKIP LOCKED: instances draining together take different
      // rows); the pipelines are read without a lock, so a slow drain never holds up the scheduler.
      const rows = await tx.all<OutboxRow>(
        `SELECT ${OUTBOX_COLUMNS} FROM forge_statuses WHERE next_at <= ? AND claimed_until <= ? ORDER BY next_at LIMIT ?${this.db.lockClause('skip')}`,
        [at, at, limit],
      );
      if (rows.length === 0) return [];
      const ids = rows.map((r) => num(r.pipeline_id));
      const marks = ids.map(() => '?').join(', ');
      await tx.run(`UPDATE forge_statuses SET claimed_until = ? WHERE pipeline_id IN (${marks})`, [claimedUntil, ...ids]);
      const pipes = await tx.all<{ id: number | string; project_id: number | string; ref: string; sha: string }>(
        `SELECT id, project_id, ref, sha FROM pipelines WHERE id IN (${marks})`,
        ids,
      );
      const byId = new Map(pipes.map((p) => [num(p.id), p]));
      return rows.flatMap((r) => {
        const p = byId.get(num(r.pipeline_id));
        if (!p) return [];
        return [
          {
            pipelineId: asPipelineId(num(r.pipeline_id)),
            projectId: asProjectId(num(p.project_id)),
            status: r.status as PipelineStatus,
            version: num(r.version),
            sentState: r.sent_state,
            attempts: num(r.attempts),
            ref: p.ref,
            sha: p.sha,
          },
        ];
      });
    });
  }

  async finishReport(pipelineId: PipelineId, version: number, outcome: ReportOutcome): Promise<void> {
    if (outcome.kind === 'retry') {
      // Backoff applies to whatever version is latest: the forge is what failed, not the state.
      await this.db.run('UPDATE forge_statuses SET attempts = attempts + 1, next_at = ?, claimed_until = 0, last_error = ? WHERE pipeline_id = ?', [
        outcome.retryAt,
        outcome.error,
        pipelineId,
      ]);
      return;
    }
    const sentState = outcome.kind === 'sent' ? outcome.state : null;
    const error = outcome.kind === 'gave-up' ? outcome.error : null;
    // Done with `version`; if a newer one was written while this was in flight it is due now.
    await this.db.run(
      'UPDATE forge_statuses SET sent_version = ?, sent_state = COALESCE(?, sent_state), attempts = 0, claimed_until = 0, last_error = ?, ' +
        'next_at = CASE WHEN version = ? THEN NULL ELSE 0 END WHERE pipeline_id = ?',
      [version, sentState, error, version, pipelineId],
    );
  }

  async getOutboxRow(pipelineId: PipelineId): Promise<ForgeOutboxRow | null> {
    const r = await this.db.get<OutboxRow>(`SELECT ${OUTBOX_COLUMNS} FROM forge_statuses WHERE pipeline_id = ?`, [pipelineId]);
    if (!r) return null;
    return {
      pipelineId: asPipelineId(num(r.pipeline_id)),
      status: r.status as PipelineStatus,
      version: num(r.version),
      sentVersion: num(r.sent_version),
      sentState: r.sent_state,
      attempts: num(r.attempts),
      nextAt: numOrNull(r.next_at),
      lastError: r.last_error,
    };
  }
}
