// The usage chart's data: one bar per day of the month, one stacked series per pool. Pure, so the
// arithmetic is tested in Node (test/ui/usage-series.test.ts) and the chart only draws.

import type { UsageDay } from '../api/types.js';

export interface UsageSeries {
  /** 1..N: the days of the month. */
  labels: string[];
  /** The pools, largest total first, each with one value per day. */
  pools: { pool: string; minutes: number[]; total: number }[];
}

/** The number of days of a `YYYY-MM` month. */
export function daysIn(month: string): number {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

export function usageSeries(month: string, days: readonly UsageDay[]): UsageSeries {
  const n = daysIn(month);
  const labels = Array.from({ length: n }, (_, i) => String(i + 1));
  const byPool = new Map<string, number[]>();
  for (const d of days) {
    if (!d.day.startsWith(`${month}-`)) continue;
    const i = Number(d.day.slice(8, 10)) - 1;
    for (const [pool, minutes] of Object.entries(d.byPool)) {
      const row = byPool.get(pool) ?? new Array<number>(n).fill(0);
      row[i] = (row[i] ?? 0) + minutes;
      byPool.set(pool, row);
    }
  }
  const pools = [...byPool].map(([pool, minutes]) => ({ pool, minutes, total: round(minutes.reduce((a, b) => a + b, 0)) }));
  pools.sort((a, b) => b.total - a.total || a.pool.localeCompare(b.pool));
  return { labels, pools };
}

/** Minutes as the page shows them: up to three decimals, no trailing zeros. */
export function minutesText(m: number | null): string {
  if (m === null) return 'unlimited';
  return `${round(m).toLocaleString('en', { maximumFractionDigits: 3 })} min`;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** The month before or after `YYYY-MM`. */
export function monthStep(month: string, step: -1 | 1): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 1 + step, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}
