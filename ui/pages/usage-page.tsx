// Compute minutes (docs/RUNNING.md, "Compute minutes and quotas"): a project's month (its quota,
// grants, what it used and holds, by pool and by day) for its maintainers, and the instance's
// month with the projects that use the most for admins. Each month's billing lines download as CSV.

import { useState } from 'preact/hooks';
import { downloadFile, safeName } from '../api/download.js';
import type { InstanceUsage, Usage } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { navigate, type Place } from '../router.js';
import { UsageChart } from '../usage/usage-chart.js';
import { minutesText, monthStep } from '../usage/usage-series.js';

const thisMonth = () => new Date().toISOString().slice(0, 7);

/** The month in `?month=`, else the current one. */
function monthOf(place: Place): string {
  const m = place.search.get('month');
  return m && /^[0-9]{4}-(0[1-9]|1[0-2])$/.test(m) ? m : thisMonth();
}

function MonthPicker({ month, base }: { month: string; base: string }) {
  const next = monthStep(month, 1);
  return (
    <nav class="month-picker" aria-label="Month">
      <button type="button" onClick={() => navigate(`${base}?month=${monthStep(month, -1)}`)}>
        ← {monthStep(month, -1)}
      </button>
      <strong aria-current="date">{month}</strong>
      <button type="button" disabled={next > thisMonth()} onClick={() => navigate(`${base}?month=${next}`)}>
        {next} →
      </button>
    </nav>
  );
}

function CsvButton({ path, filename }: { path: string; filename: string }) {
  const [error, setError] = useState<unknown>(null);
  return (
    <>
      <button type="button" onClick={() => downloadFile(path, filename).catch(setError)}>
        Billing lines (CSV)
      </button>
      <ErrorBox error={error} />
    </>
  );
}

function Figures({ u }: { u: Omit<Usage, 'days'> }) {
  const rows: [string, string][] = [
    ['Monthly quota', minutesText(u.limitMinutes)],
    ['Granted', minutesText(u.grantedMinutes)],
    ['Used', minutesText(u.usedMinutes)],
    ['Held by running jobs', minutesText(u.reservedMinutes)],
    ['Remaining', minutesText(u.remainingMinutes)],
  ];
  return (
    <dl class="figures">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function ProjectUsagePage({ project, place }: { project: string; place: Place }) {
  const month = monthOf(place);
  const base = `/projects/${encodeURIComponent(project)}/usage`;
  const usage = useApi<Usage>(`${base}?month=${month}`);
  const u = usage.data;
  return (
    <main class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={`/projects/${encodeURIComponent(project)}`}>{project}</Link> / <span aria-current="page">Usage</span>
      </nav>
      <header class="page-head">
        <h1>Compute minutes</h1>
        <div class="head-actions">
          <CsvButton path={`${base}?month=${month}&format=csv`} filename={`usage-${safeName(project)}-${month}.csv`} />
        </div>
      </header>
      <MonthPicker month={month} base={base} />
      {u === null ? (
        usage.error ? <ErrorBox error={usage.error} /> : <Loading what="the usage" />
      ) : (
        <>
          <Figures u={u} />
          <h2>Per day, by pool</h2>
          <UsageChart month={month} days={u.days} />
          <h2>By pool</h2>
          {Object.keys(u.byPool).length === 0 ? (
            <p class="muted">Nothing ran this month.</p>
          ) : (
            <table class="usage-pools">
              <thead>
                <tr>
                  <th scope="col">Pool</th>
                  <th scope="col">Compute minutes</th>
                  <th scope="col">Job time</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(u.byPool).map(([pool, p]) => (
                  <tr key={pool}>
                    <td>{pool}</td>
                    <td>{minutesText(p.minutes)}</td>
                    <td>{minutesText(Math.round(p.jobSeconds / 6) / 10)}</td>
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

export function InstanceUsagePage({ place }: { place: Place }) {
  const month = monthOf(place);
  const usage = useApi<InstanceUsage>(`/usage?month=${month}`);
  const u = usage.data;
  const top = u ? [...u.projects].sort((a, b) => b.usedMinutes - a.usedMinutes || a.project.localeCompare(b.project)) : [];
  return (
    <main class="page">
      <header class="page-head">
        <h1>Compute minutes of the instance</h1>
        <div class="head-actions">
          <CsvButton path={`/usage?month=${month}&format=csv`} filename={`usage-${month}.csv`} />
        </div>
      </header>
      <MonthPicker month={month} base="/admin/usage" />
      {u === null ? (
        usage.error ? <ErrorBox error={usage.error} /> : <Loading what="the usage" />
      ) : (
        <>
          <p>
            Used in {month}: <strong>{minutesText(u.usedMinutes)}</strong>
          </p>
          <h2>Per day, by pool</h2>
          <UsageChart month={month} days={u.days} />
          <h2>Projects that use the most</h2>
          {top.length === 0 ? (
            <p class="muted">No project has a quota or used minutes this month.</p>
          ) : (
            <table class="usage-projects">
              <thead>
                <tr>
                  <th scope="col">Project</th>
                  <th scope="col">Used</th>
                  <th scope="col">Quota</th>
                  <th scope="col">Granted</th>
                  <th scope="col">Remaining</th>
                </tr>
              </thead>
              <tbody>
                {top.map((p) => (
                  <tr key={p.projectId}>
                    <td>
                      <Link href={`/projects/${encodeURIComponent(p.project)}/usage?month=${month}`}>{p.project}</Link>
                    </td>
                    <td>{minutesText(p.usedMinutes)}</td>
                    <td>{minutesText(p.limitMinutes)}</td>
                    <td>{minutesText(p.grantedMinutes)}</td>
                    <td>{minutesText(p.remainingMinutes)}</td>
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
