// Minutes per day by pool, as stacked bars (Chartist: small, maintained, SVG), with the same
// numbers in a table for screen readers and for anyone who wants the figures.

import { BarChart } from 'chartist';
import 'chartist/dist/index.css';
import { useEffect, useRef } from 'preact/hooks';
import type { UsageDay } from '../api/types.js';
import { minutesText, usageSeries } from './usage-series.js';

/** Pools beyond this many share the last colour: the chart names them in the legend all the same. */
const COLOURS = 6;

export function UsageChart({ month, days }: { month: string; days: readonly UsageDay[] }) {
  const box = useRef<HTMLDivElement>(null);
  const series = usageSeries(month, days);
  useEffect(() => {
    if (!box.current || series.pools.length === 0) return;
    const chart = new BarChart(
      box.current,
      {
        labels: series.labels,
        // A day without use has no bar, not a bar of height 0.
        series: series.pools.map((p, i) => ({ name: p.pool, className: `ct-series pool-${Math.min(i, COLOURS - 1)}`, data: p.minutes.map((m) => (m > 0 ? m : null)) })),
      },
      {
        stackBars: true,
        height: '220px',
        axisX: { labelInterpolationFnc: (value: string | number, index: number) => (index % 5 === 0 ? value : null) },
        axisY: { onlyInteger: false, labelInterpolationFnc: (value: string | number) => `${value}` },
      },
    );
    return () => chart.detach();
  }, [month, JSON.stringify(days)]);

  if (series.pools.length === 0) return <p class="muted">No compute minutes were used this month.</p>;
  return (
    <figure class="usage-chart">
      <div ref={box} class="chart" role="img" aria-label={`Compute minutes per day of ${month}, by pool`} />
      <figcaption>
        <ul class="legend">
          {series.pools.map((p, i) => (
            <li key={p.pool}>
              <span class={`swatch pool-${Math.min(i, COLOURS - 1)}`} aria-hidden="true" />
              {p.pool}: {minutesText(p.total)}
            </li>
          ))}
        </ul>
        <details>
          <summary>Minutes per day as a table</summary>
          <table class="usage-days">
            <thead>
              <tr>
                <th scope="col">Day</th>
                {series.pools.map((p) => (
                  <th scope="col" key={p.pool}>
                    {p.pool}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {days
                .filter((d) => d.day.startsWith(`${month}-`))
                .map((d) => (
                  <tr key={d.day}>
                    <th scope="row">{d.day}</th>
                    {series.pools.map((p) => (
                      <td key={p.pool}>{d.byPool[p.pool] === undefined ? '—' : minutesText(d.byPool[p.pool]!)}</td>
                    ))}
                  </tr>
                ))}
            </tbody>
          </table>
        </details>
      </figcaption>
    </figure>
  );
}
