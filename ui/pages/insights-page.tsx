// A project's insights (GET /projects/:project/insights): how often its pipelines succeed and how
// long they take, per day over the last weeks, and its slowest and flakiest jobs. Two Chartist line
// charts, each with its figures in a table; a window of 7, 28 or 90 days.

import { LineChart } from 'chartist';
import 'chartist/dist/index.css';
import { useEffect, useRef } from 'preact/hooks';
import type { DayInsight, ProjectInsights } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { formatDuration } from '../components/time.js';
import { navigate, type Place } from '../router.js';

const WINDOWS = [7, 28, 90] as const;

function windowOf(place: Place): number {
  const d = Number(place.search.get('days'));
  return (WINDOWS as readonly number[]).includes(d) ? d : 28;
}

const percent = (r: number | null) => (r === null ? '—' : `${(r * 100).toFixed(r === 1 || r === 0 ? 0 : 1)}%`);
const seconds = (s: number | null) => (s === null ? '—' : formatDuration(s * 1000));

/** One line chart; `null` points leave a gap (a day without pipelines), not a drop to zero. */
function Lines({ label, days, lines, format, max }: { label: string; days: DayInsight[]; lines: { name: string; cls: string; values: (number | null)[] }[]; format: (v: number) => string; max?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const chart = new LineChart(
      box.current,
      { labels: days.map((d) => d.day.slice(5)), series: lines.map((l) => ({ name: l.name, className: `ct-series ${l.cls}`, data: l.values })) },
      {
        height: '200px',
        low: 0,
        ...(max === undefined ? {} : { high: max }),
        showArea: false,
        lineSmooth: false,
        axisX: { labelInterpolationFnc: (v: string | number, i: number) => (i % Math.ceil(days.length / 10) === 0 ? v : null) },
        axisY: { labelInterpolationFnc: (v: string | number) => format(Number(v)) },
      },
    );
    return () => chart.detach();
  }, [JSON.stringify(lines), days.length]);
  return (
    <figure class="insight-chart">
      <div ref={box} class="chart" role="img" aria-label={label} />
      <figcaption>
        <ul class="legend">
          {lines.map((l) => (
            <li key={l.name}>
              <span class={`swatch ${l.cls}`} aria-hidden="true" />
              {l.name}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}

export function InsightsPage({ project, place }: { project: string; place: Place }) {
  const days = windowOf(place);
  const base = `/projects/${encodeURIComponent(project)}/insights`;
  const insights = useApi<ProjectInsights>(`${base}?days=${days}`);
  const i = insights.data;
  return (
    <main class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={`/projects/${encodeURIComponent(project)}`}>{project}</Link> / <span aria-current="page">Insights</span>
      </nav>
      <header class="page-head">
        <h1>Insights</h1>
        <nav class="window-picker" aria-label="Window">
          {WINDOWS.map((w) => (
            <button key={w} type="button" aria-pressed={w === days} onClick={() => navigate(`${base}?days=${w}`)}>
              {w} days
            </button>
          ))}
        </nav>
      </header>
      {i === null ? (
        insights.error ? <ErrorBox error={insights.error} /> : <Loading what="the insights" />
      ) : (
        <>
          <dl class="figures">
            <div>
              <dt>Pipelines finished</dt>
              <dd>{i.totals.finished}</dd>
            </div>
            <div>
              <dt>Success rate</dt>
              <dd>{percent(i.totals.successRate)}</dd>
            </div>
            <div>
              <dt>Duration p50 / p95</dt>
              <dd>
                {seconds(i.totals.p50Seconds)} / {seconds(i.totals.p95Seconds)}
              </dd>
            </div>
          </dl>
          {i.truncated ? <p class="muted">Only the newest 5,000 pipelines of the window were read: its first days look quieter than they were.</p> : null}
          <h2>Success rate per day</h2>
          <Lines label={`Success rate per day over the last ${days} days`} days={i.days} max={1} format={(v) => `${Math.round(v * 100)}%`} lines={[{ name: 'succeeded ÷ (succeeded + failed)', cls: 'line-rate', values: i.days.map((d) => d.successRate) }]} />
          <h2>Duration per day</h2>
          <Lines
            label={`Pipeline duration per day over the last ${days} days, p50 and p95`}
            days={i.days}
            format={(v) => formatDuration(v * 1000)}
            lines={[
              { name: 'p50 (created → finished)', cls: 'line-p50', values: i.days.map((d) => d.p50Seconds) },
              { name: 'p95', cls: 'line-p95', values: i.days.map((d) => d.p95Seconds) },
            ]}
          />
          <details>
            <summary>Per day as a table</summary>
            <table class="insight-days">
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">Finished</th>
                  <th scope="col">Succeeded</th>
                  <th scope="col">Failed</th>
                  <th scope="col">Canceled</th>
                  <th scope="col">Success rate</th>
                  <th scope="col">p50</th>
                  <th scope="col">p95</th>
                </tr>
              </thead>
              <tbody>
                {i.days.map((d) => (
                  <tr key={d.day}>
                    <th scope="row">{d.day}</th>
                    <td>{d.finished}</td>
                    <td>{d.succeeded}</td>
                    <td>{d.failed}</td>
                    <td>{d.canceled}</td>
                    <td>{percent(d.successRate)}</td>
                    <td>{seconds(d.p50Seconds)}</td>
                    <td>{seconds(d.p95Seconds)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
          <h2>Slowest jobs</h2>
          {i.slowestJobs.length === 0 ? (
            <p class="muted">No job succeeded in this window.</p>
          ) : (
            <table class="slowest-jobs">
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">p50</th>
                  <th scope="col">p95</th>
                  <th scope="col">Successful runs</th>
                </tr>
              </thead>
              <tbody>
                {i.slowestJobs.map((j) => (
                  <tr key={j.name}>
                    <th scope="row">{j.name}</th>
                    <td>{seconds(j.p50Seconds)}</td>
                    <td>{seconds(j.p95Seconds)}</td>
                    <td>{j.runs}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>Flakiest jobs</h2>
          {i.flakiestJobs.length === 0 ? (
            <p class="muted">No job failed and then passed on a retry in this window.</p>
          ) : (
            <table class="flakiest-jobs">
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Failed, then passed on a retry</th>
                  <th scope="col">Pipelines it ran in</th>
                  <th scope="col">Rate</th>
                </tr>
              </thead>
              <tbody>
                {i.flakiestJobs.map((j) => (
                  <tr key={j.name}>
                    <th scope="row">{j.name}</th>
                    <td>{j.flaky}</td>
                    <td>{j.runs}</td>
                    <td>{percent(j.rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </main>
  );
}
