// After the load: nothing lost, nothing twice. From the database and the API: every delivery the
// intake answered 2xx is recorded once and made the pipelines it should (one for a `load/*` push,
// none for the others or for resends); every pipeline finished successfully; every job has one
// finished, successful attempt; every job's log, read back through the API, holds exactly the
// lines its script printed; and every viewer that followed a job to its end received exactly
// that log, byte for byte.

import type pg from 'pg';
import type { Forge } from './forge.js';
import { checkLog } from './job-log.js';
import type { Viewers } from './viewers.js';

export interface Tally {
  kind: string;
  checked: number;
  lost: number;
  duplicated: number;
  /** Neither lost nor twice, but not what it should be (a failed job, a log line out of order). */
  wrong: number;
  notes: string[];
}

const tally = (kind: string): Tally => ({ kind, checked: 0, lost: 0, duplicated: 0, wrong: 0, notes: [] });

function note(t: Tally, s: string): void {
  if (t.notes.length < 5) t.notes.push(s);
}

export interface JobRow {
  id: number;
  pipelineId: number;
  name: string;
  ref: string;
  status: string;
}

/** Waits until the queue has taken every delivery and every pipeline has finished; false past `deadline`. */
export async function quiesce(db: pg.Pool, deadline: number): Promise<boolean> {
  for (;;) {
    const { rows } = await db.query<{ d: string; p: string }>(
      `SELECT (SELECT count(*) FROM webhook_deliveries WHERE status IN ('queued', 'processing')) AS d,
              (SELECT count(*) FROM pipelines WHERE finished_at IS NULL) AS p`,
    );
    if (Number(rows[0]!.d) === 0 && Number(rows[0]!.p) === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export async function verifyStore(db: pg.Pool, forge: Forge, jobsPerPipeline: number): Promise<{ tallies: Tally[]; jobs: JobRow[] }> {
  const deliveries = tally('webhook deliveries');
  const pipelines = tally('pipelines');
  const jobs = tally('jobs');
  const recorded = new Map<string, Array<{ status: string; pipeline_id: string | null }>>();
  for (const r of (await db.query<{ delivery_id: string; status: string; pipeline_id: string | null }>('SELECT delivery_id, status, pipeline_id FROM webhook_deliveries')).rows) {
    recorded.set(r.delivery_id, [...(recorded.get(r.delivery_id) ?? []), r]);
  }
  // The warm-up's pipelines (API triggers on main) are checked as jobs and logs, not as deliveries' pipelines.
  const pipelineRows = (await db.query<{ id: string; ref: string; status: string }>("SELECT id, ref, status FROM pipelines WHERE source <> 'api'")).rows;
  const pipelinesByRef = new Map<string, typeof pipelineRows>();
  for (const p of pipelineRows) pipelinesByRef.set(p.ref, [...(pipelinesByRef.get(p.ref) ?? []), p]);
  let expectedPipelines = 0;
  for (const d of forge.deliveries.values()) {
    if (!d.acked) continue;
    deliveries.checked++;
    const rows = recorded.get(d.id) ?? [];
    if (rows.length === 0) {
      deliveries.lost++;
      note(deliveries, `${d.id} answered 2xx, not recorded`);
    } else if (rows.length > 1) deliveries.duplicated += rows.length - 1;
    const want = d.kind === 'pipeline' ? 'done' : 'ignored';
    if (rows.length > 0 && rows[0]!.status !== want) {
      deliveries.wrong++;
      note(deliveries, `${d.id} (${d.kind}) is ${rows[0]!.status}, not ${want}`);
    }
    const made = pipelinesByRef.get(d.ref) ?? [];
    if (d.kind === 'pipeline') {
      expectedPipelines++;
      pipelines.checked++;
      if (made.length === 0 && rows[0] !== undefined && ['queued', 'processing'].includes(rows[0].status)) {
        // The queue has not made it yet (the drain's time ran out): owed, not lost.
        pipelines.wrong++;
        note(pipelines, `${d.id}: delivery still ${rows[0].status}, no pipeline yet`);
      } else if (made.length === 0) {
        pipelines.lost++;
        note(pipelines, `${d.id}: no pipeline for ${d.ref}`);
      }
      if (made.length > 1) {
        pipelines.duplicated += made.length - 1;
        note(pipelines, `${d.id}: ${made.length} pipelines for ${d.ref}`);
      }
      for (const p of made) {
        if (p.status !== 'success') {
          pipelines.wrong++;
          note(pipelines, `pipeline ${p.id} (${d.ref}) ${p.status}`);
        }
        if (rows[0]?.pipeline_id !== p.id && made.length === 1) {
          pipelines.wrong++;
          note(pipelines, `${d.id} names pipeline ${rows[0]?.pipeline_id}, not ${p.id}`);
        }
      }
    } else if (made.length > 0) {
      pipelines.duplicated += made.length;
      note(pipelines, `${d.id} (${d.kind}, ${d.ref}) made ${made.length} pipelines`);
    }
  }
  // A pipeline no `load/*` delivery explains is one too many. (A delivery never answered 2xx may
  // still have been recorded, its answer lost on the way: its pipeline is explained, not owed.)
  const pushedRefs = new Set([...forge.deliveries.values()].filter((d) => d.kind === 'pipeline').map((d) => d.ref));
  for (const p of pipelineRows) {
    if (!pushedRefs.has(p.ref)) {
      pipelines.duplicated++;
      note(pipelines, `pipeline ${p.id} (${p.ref}) from no pipeline delivery`);
    }
  }
  const jobRows = (
    await db.query<{ id: string; pipeline_id: string; name: string; ref: string; status: string; attempts: string; good: string }>(
      `SELECT j.id, j.pipeline_id, j.name, p.ref, j.status,
              (SELECT count(*) FROM attempts a WHERE a.job_id = j.id) AS attempts,
              (SELECT count(*) FROM attempts a WHERE a.job_id = j.id AND a.status = 'success' AND a.finished_at IS NOT NULL) AS good
         FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id`,
    )
  ).rows;
  const perPipeline = new Map<string, number>();
  for (const j of jobRows) {
    perPipeline.set(j.pipeline_id, (perPipeline.get(j.pipeline_id) ?? 0) + 1);
    jobs.checked++;
    if (Number(j.good) === 0 && !['success', 'failed', 'canceled', 'skipped'].includes(j.status)) {
      // Still queued or running when the drain's time ran out: not lost, not proved either.
      jobs.wrong++;
      note(jobs, `job ${j.id} (${j.ref}/${j.name}) unfinished (${j.status})`);
    } else if (Number(j.good) === 0) {
      jobs.lost++;
      note(jobs, `job ${j.id} (${j.ref}/${j.name}) ${j.status}, ${j.attempts} attempts, none succeeded`);
    } else if (Number(j.attempts) > 1) {
      // A retry is not a duplicate by itself (a lost agent's job is run again); two successes would be.
      if (Number(j.good) > 1) jobs.duplicated += Number(j.good) - 1;
      note(jobs, `job ${j.id} (${j.ref}/${j.name}) ran ${j.attempts} attempts`);
    }
    if (j.status !== 'success') jobs.wrong++;
  }
  for (const p of (await db.query<{ id: string }>('SELECT id FROM pipelines')).rows) {
    const n = perPipeline.get(p.id) ?? 0;
    if (n !== jobsPerPipeline) {
      jobs.wrong++;
      note(jobs, `pipeline ${p.id} has ${n} jobs`);
    }
  }
  if (pipelineRows.length !== expectedPipelines) note(pipelines, `${pipelineRows.length} pipelines for ${expectedPipelines} pipeline deliveries`);
  return {
    tallies: [deliveries, pipelines, jobs],
    jobs: jobRows.map((j) => ({ id: Number(j.id), pipelineId: Number(j.pipeline_id), name: j.name, ref: j.ref, status: j.status })),
  };
}

/**
 * Reads every job's log through the API (both instances, several tokens, a few at a time; a 429
 * or 503 is tried again after Retry-After) and checks it; then compares each viewer's copy with it.
 */
export async function verifyLogs(urls: readonly string[], tokens: readonly string[], jobs: JobRow[], viewers: Viewers, deadline: number): Promise<Tally[]> {
  const logs = tally('log lines (API)');
  const views = tally('viewer copies');
  const served = new Map<number, Buffer>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      while (next < jobs.length) {
        const j = jobs[next++]!;
        const url = urls[w % urls.length]!;
        const token = tokens[w % tokens.length]!;
        for (;;) {
          const res = await fetch(`${url}/api/v1/jobs/${j.id}/log`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
          if ((res.status === 429 || res.status === 503) && Date.now() < deadline) {
            await res.arrayBuffer();
            await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
            continue;
          }
          const body = Buffer.from(await res.arrayBuffer());
          logs.checked++;
          if (res.status !== 200) {
            // Not read (still shed at the deadline) is not lost, but it is not proved either.
            logs.wrong++;
            note(logs, `job ${j.id}: GET log ${res.status}, not checked`);
            break;
          }
          served.set(j.id, body);
          const c = checkLog(body.toString('latin1'), j.id, `${j.ref}/${j.name}`);
          logs.lost += c.lost;
          logs.duplicated += c.duplicated;
          logs.wrong += c.wrong;
          if (c.lost + c.duplicated + c.wrong > 0) note(logs, `job ${j.id}: ${c.lost} lost, ${c.duplicated} twice, ${c.wrong} wrong`);
          break;
        }
      }
    }),
  );
  for (const f of viewers.follows) {
    if (!f.ended) continue;
    views.checked++;
    const want = served.get(f.jobId);
    const got = Buffer.concat(f.bytes);
    if (!want) continue;
    if (f.gapBytes > 0 || got.length < want.length) {
      views.lost++;
      note(views, `job ${f.jobId}: viewer got ${got.length} of ${want.length} bytes, ${f.gapBytes} skipped`);
    } else if (f.overlapBytes > 0 || got.length > want.length) {
      views.duplicated++;
      note(views, `job ${f.jobId}: viewer got ${got.length} bytes for ${want.length}, ${f.overlapBytes} twice`);
    } else if (!got.equals(want)) {
      views.wrong++;
      note(views, `job ${f.jobId}: viewer's ${got.length} bytes differ from the log's`);
    }
  }
  return [logs, views];
}
