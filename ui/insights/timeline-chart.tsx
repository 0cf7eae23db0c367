// A pipeline's timeline (GET /pipelines/:id/timeline): one bar per job on one time axis, each
// attempt's wait in the queue (light) then its run (solid), the critical path's runs marked with a
// pattern and a ◆ before the job's name, never by colour alone. Chartist draws it (stacked
// horizontal bars, a transparent first segment for the time before the job was queued); the same
// figures are in a table for screen readers and for anyone who wants the numbers.

import { BarChart } from 'chartist';
import 'chartist/dist/index.css';
import { useEffect, useRef } from 'preact/hooks';
import type { PipelineTimeline } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { formatDuration } from '../components/time.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { timelineBars } from './timeline-bars.js';

const MARK = '◆';

/** The page gives it a new `key` as its jobs move, so it reads the timeline again. */
export function PipelineTimelineCard({ pipelineId }: { pipelineId: number }) {
  const timeline = useApi<PipelineTimeline>(`/pipelines/${pipelineId}/timeline`);
  return (
    <section class="card timeline" aria-labelledby="timeline-heading">
      <h2 id="timeline-heading">Timeline</h2>
      {timeline.data === null ? timeline.error ? <ErrorBox error={timeline.error} /> : <Loading what="the timeline" /> : <TimelineChart t={timeline.data} />}
    </section>
  );
}

export function TimelineChart({ t }: { t: PipelineTimeline }) {
  const box = useRef<HTMLDivElement>(null);
  const bars = timelineBars(t, Date.now());
  useEffect(() => {
    if (!box.current || bars.rows.length === 0) return;
    // Chartist puts the first label at the bottom of a horizontal chart: the rows go in reversed,
    // so the first job is on top. (Its reverseData would reverse the stacking order too.)
    const rows = [...bars.rows].reverse();
    const series: { name: string; className: string; data: ({ value: number; meta: string } | null)[] }[] = [];
    for (let k = 0; k < bars.attempts; k++) {
      const parts = ['gap', 'wait', 'run'] as const;
      parts.forEach((part, p) =>
        series.push({
          name: `${part} ${k + 1}`,
          className: `ct-series tl-${part}`,
          data: rows.map((r) => {
            const seg = r.segments[k];
            return seg ? { value: seg[p]!, meta: r.critical && part === 'run' ? 'critical' : 'none' } : null;
          }),
        }),
      );
    }
    const chart = new BarChart(
      box.current,
      { labels: rows.map((r) => (r.critical ? `${MARK} ${r.name}` : r.name)), series },
      {
        horizontalBars: true,
        stackBars: true,
        height: `${Math.max(120, rows.length * 26 + 40)}px`,
        axisY: { offset: 160 },
        axisX: { onlyInteger: false, labelInterpolationFnc: (v: string | number) => formatDuration(Number(v) * 1000) },
      },
    );
    chart.on('draw', (data: { type: string; meta?: unknown; element: { addClass(c: string): void } }) => {
      if (data.type === 'bar' && data.meta === 'critical') data.element.addClass('tl-critical');
    });
    return () => chart.detach();
  }, [JSON.stringify(t)]);

  if (bars.rows.length === 0) return <p class="muted">No job has been queued yet.</p>;
  return (
    <figure class="timeline-chart">
      <div ref={box} class="chart" role="img" aria-label={`Timeline of pipeline ${t.pipelineId}: each job's wait in the queue and its run`} />
      <figcaption>
        <ul class="legend">
          <li>
            <span class="swatch tl-wait" aria-hidden="true" /> waiting in the queue
          </li>
          <li>
            <span class="swatch tl-run" aria-hidden="true" /> running
          </li>
          <li>
            <span class="swatch tl-run tl-critical" aria-hidden="true" /> {MARK} on the critical path
          </li>
        </ul>
        <p class="critical-path">
          {bars.critical.names.length === 0 ? (
            'No job has finished yet: no critical path.'
          ) : (
            <>
              Critical path ({formatDuration(bars.critical.seconds * 1000)} of {formatDuration(bars.span * 1000)}): <strong>{bars.critical.names.join(' → ')}</strong>. Shortening another job
              would not have ended the pipeline sooner.
            </>
          )}
        </p>
        <details>
          <summary>The timeline as a table</summary>
          <table class="timeline-table">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Attempts</th>
                <th scope="col">Waited</th>
                <th scope="col">Ran</th>
                <th scope="col">Critical path</th>
              </tr>
            </thead>
            <tbody>
              {bars.rows.map((r) => (
                <tr key={r.jobId}>
                  <th scope="row">{r.name}</th>
                  <td>{r.segments.length}</td>
                  <td>{formatDuration(r.waited * 1000)}</td>
                  <td>{formatDuration(r.ran * 1000)}</td>
                  <td>{r.critical ? 'yes' : 'no'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      </figcaption>
    </figure>
  );
}
